// Two live `&mut` to one buffer through the same token must not compile.
fn main() {
    let pool = iobuf::SmallBufferPool::new(1).unwrap();
    let mut token = pool.get_index();
    let a = pool.value_mut(&mut token);
    let b = pool.value_mut(&mut token);
    a.0[0] = 1;
    b.0[0] = 2;
    pool.put(token);
}
