iobuf::buffer_pools! {
    small: 2KiB x 1024,
    small: 8KiB x 64,
}

fn main() {}
