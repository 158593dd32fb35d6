// A forgotten `unwrap`: `Filled::new` takes bytes, so an `Option` of a
// buffer is refused here, at the mistake.
mod pools {
    iobuf::buffer_pools! { small: 2KiB x 4 }
}

fn main() {
    let _filled = iobuf::Filled::new(pools::get(100));
}
