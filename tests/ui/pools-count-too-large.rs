iobuf::buffer_pools! {
    small: 32B x 2147483649,
}

fn main() {}
