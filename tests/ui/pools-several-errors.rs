// Every mistake is reported at once, and code using the declared items
// sees no follow-on errors.
mod pools {
    iobuf::buffer_pools! {
        small: 2KB x 1024,
        Medium: 8KiB x 0,
        #[pool(fast)]
        large: 128KiB 64,
        small: 2KiB x 8,
    }
}

fn main() {
    let _ = pools::small();
    let _ = pools::get(100);
    let _ = pools::TOTAL_BYTES;
}
