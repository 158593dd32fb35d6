use iobuf::BufferTier;

#[derive(BufferTier)]
#[repr(C)]
union Packet {
    a: [u8; 32],
}

fn main() {}
