iobuf::buffer_pools! {
    small: 2KB x 1024,
}

fn main() {}
