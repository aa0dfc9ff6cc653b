//! The `exchange-sim` binary: announces its address, serves, stops on SIGTERM.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpStream,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

#[test]
fn binary_announces_serves_and_stops_on_sigterm() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_exchange-sim"))
        .args([
            "--port",
            "0",
            "--weight-limit",
            "777",
            "--extra-symbols",
            "2",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start exchange-sim");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("announcement");
    let base = line
        .trim_end()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected announcement {line:?}"))
        .to_owned();
    assert!(base.starts_with("127.0.0.1:"), "{base}");

    let mut stream = TcpStream::connect(&base).expect("connect");
    stream
        .write_all(b"GET /api/v3/exchangeInfo?symbol=SIM002USDT HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("\"limit\":777"), "{response}");
    assert!(response.contains("\"symbol\":\"SIM002USDT\""), "{response}");
    assert!(
        response
            .to_ascii_lowercase()
            .contains("x-mbx-used-weight-1m: 20")
    );

    // The USD-M listener is announced on stderr and lists the clones too.
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut usdm = String::new();
    while !usdm.starts_with("usdm listening on http://") {
        usdm.clear();
        assert!(
            stderr.read_line(&mut usdm).expect("stderr") > 0,
            "no usdm announcement"
        );
    }
    let usdm = usdm
        .trim_end()
        .trim_start_matches("usdm listening on http://");
    let mut stream = TcpStream::connect(usdm).expect("connect usdm");
    stream
        .write_all(b"GET /fapi/v1/exchangeInfo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("\"symbol\":\"SIM002USDT\""), "{response}");
    assert!(
        response.contains("\"futuresType\":\"U_MARGINED\""),
        "{response}"
    );

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            assert!(status.success(), "exit status {status}");
            break;
        }
        assert!(Instant::now() < deadline, "did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).expect("stdout");
    assert_eq!(rest, "", "exactly one line on stdout");
}
