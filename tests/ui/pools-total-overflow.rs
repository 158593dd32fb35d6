iobuf::buffer_pools! {
    a: 4GiB x 2147483648,
    b: 8GiB x 1073741824,
}

fn main() {}
