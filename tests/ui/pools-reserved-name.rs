iobuf::buffer_pools! {
    get: 2KiB x 1024,
}

fn main() {}
