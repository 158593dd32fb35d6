iobuf::buffer_pools! {
    #[pool(thread_cache = 100000)]
    small: 2KiB x 1024,
}

fn main() {}
