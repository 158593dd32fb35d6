// Sharing `&BufIndex` would let two threads reach the same buffer.
fn main() {
    let pool = iobuf::SmallBufferPool::new(1).unwrap();
    let token = pool.get_index();
    std::thread::scope(|s| {
        s.spawn(|| pool.value(&token).0[0]);
    });
    pool.put(token);
}
