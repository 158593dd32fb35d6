iobuf::buffer_pools! {
    small: 0KiB x 1024,
}

fn main() {}
