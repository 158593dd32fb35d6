iobuf::buffer_pools! {
    small: 2KiB x 0,
}

fn main() {}
