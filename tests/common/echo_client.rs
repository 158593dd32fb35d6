//! The outside (blocking) client of the echo examples' `--listen` tests
//! (`tokio_echo`, `uring_echo`).

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};

/// Sends `data` to the echo server at `addr` from a second thread while
/// this one reads the echo, half-closes after the last byte, and asserts
/// that what came back before the server closed is `data` (`conn` names
/// the connection in the message).
pub fn assert_echoes(addr: SocketAddr, conn: usize, data: Vec<u8>) {
    let mut stream = TcpStream::connect(addr).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let sent = data.clone();
    let sender = std::thread::spawn(move || {
        writer.write_all(&sent).unwrap();
        writer.shutdown(Shutdown::Write).unwrap();
    });
    let mut echoed = Vec::new();
    stream.read_to_end(&mut echoed).unwrap(); // ends at the server's close
    sender.join().unwrap();
    assert!(echoed == data, "connection {conn}: echo differs");
}
