iobuf::buffer_pools! {
    huge: 8GiB x 2147483648,
}

fn main() {}
