// A token is the only handle to its buffer: it cannot be copied.
fn main() {
    let pool = iobuf::SmallBufferPool::new(1).unwrap();
    let token = pool.get_index();
    let copy = token.clone();
    pool.put(token);
    pool.put(copy);
}
