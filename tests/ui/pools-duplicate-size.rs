iobuf::buffer_pools! {
    small: 2KiB x 1024,
    packet: 2048B x 64,
}

fn main() {}
