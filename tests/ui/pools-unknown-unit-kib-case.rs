iobuf::buffer_pools! {
    small: 2Kib x 1024,
}

fn main() {}
