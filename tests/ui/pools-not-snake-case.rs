iobuf::buffer_pools! {
    SmallPackets: 2KiB x 1024,
}

fn main() {}
