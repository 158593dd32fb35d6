iobuf::buffer_pools! {
    small: 2KiB 1024,
}

fn main() {}
