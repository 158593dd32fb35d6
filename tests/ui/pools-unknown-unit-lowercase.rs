iobuf::buffer_pools! {
    small: 2kb x 1024,
}

fn main() {}
