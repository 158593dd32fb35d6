iobuf::buffer_pools! {
    small: 2KiBx1024,
}

fn main() {}
