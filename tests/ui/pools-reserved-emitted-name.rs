// Every name the macro emits itself is refused with its own spanned error.
mod pools {
    iobuf::buffer_pools! {
        get_async: 2KiB x 4,
        set_count: 8KiB x 4,
        stats: 32KiB x 2,
        small: 512 x 8,
    }
}

fn main() {}
