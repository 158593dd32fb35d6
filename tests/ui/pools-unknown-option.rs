iobuf::buffer_pools! {
    #[pool(zero_on_return, pinned)]
    small: 2KiB x 1024,
}

fn main() {}
