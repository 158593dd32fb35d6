iobuf::buffer_pools! {}

fn main() {}
