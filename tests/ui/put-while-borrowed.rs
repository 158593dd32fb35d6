// A token cannot go back while its buffer is still borrowed.
fn main() {
    let pool = iobuf::SmallBufferPool::new(1).unwrap();
    let token = pool.get_index();
    let bytes = pool.value(&token);
    pool.put(token);
    println!("{}", bytes.0[0]);
}
