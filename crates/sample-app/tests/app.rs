//! Runs the real sample-app binary on a loopback port and drives it over TCP.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct App {
    child: Child,
    port: u16,
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start(env: &[(&str, &str)]) -> App {
    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_skiff-sample-app"));
    cmd.env("PORT", port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().unwrap();
    let app = App { child, port };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !answers_http(port) {
        assert!(Instant::now() < deadline, "sample app did not answer HTTP");
        std::thread::sleep(Duration::from_millis(20));
    }
    app
}

/// True once something answers HTTP on `port`. A bare connect is not enough: a
/// connect to a loopback port nobody listens on yet can succeed by connecting to
/// itself (when the kernel picks that same port as the source port).
fn answers_http(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut first = [0u8; 8];
    write!(s, "GET /env HTTP/1.1\r\nHost: probe\r\n\r\n").is_ok()
        && s.read_exact(&mut first).is_ok()
        && &first == b"HTTP/1.1"
}

/// The app's exit code, waiting at most 10 s for it to exit.
fn exit_code(app: &mut App) -> Option<i32> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = app.child.try_wait().unwrap() {
            return status.code();
        }
        assert!(Instant::now() < deadline, "sample app did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends one request on `stream` and reads one response (Content-Length or chunked).
fn request(stream: &mut BufReader<TcpStream>, path: &str) -> (u16, String) {
    write!(
        stream.get_mut(),
        "GET {path} HTTP/1.1\r\nHost: test\r\n\r\n"
    )
    .unwrap();
    let mut line = String::new();
    stream.read_line(&mut line).unwrap();
    let status: u16 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut len = None;
    let mut chunked = false;
    loop {
        line.clear();
        stream.read_line(&mut line).unwrap();
        let l = line.trim_end().to_ascii_lowercase();
        if l.is_empty() {
            break;
        }
        if let Some(v) = l.strip_prefix("content-length:") {
            len = Some(v.trim().parse::<usize>().unwrap());
        }
        if l.starts_with("transfer-encoding:") && l.contains("chunked") {
            chunked = true;
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            line.clear();
            stream.read_line(&mut line).unwrap();
            let n = usize::from_str_radix(line.trim(), 16).unwrap();
            if n == 0 {
                line.clear();
                stream.read_line(&mut line).unwrap();
                break;
            }
            let mut chunk = vec![0; n + 2];
            stream.read_exact(&mut chunk).unwrap();
            body.extend_from_slice(&chunk[..n]);
        }
    } else {
        body.resize(len.unwrap_or(0), 0);
        stream.read_exact(&mut body).unwrap();
    }
    (status, String::from_utf8(body).unwrap())
}

fn connect(app: &App) -> BufReader<TcpStream> {
    BufReader::new(TcpStream::connect(("127.0.0.1", app.port)).unwrap())
}

#[test]
fn hello_keepalive_sleep_stream_env() {
    let app = start(&[("TARGET", "skiff")]);
    let mut c = connect(&app);
    assert_eq!(request(&mut c, "/"), (200, "Hello skiff!\n".to_string()));
    // Same connection: keep-alive.
    assert_eq!(request(&mut c, "/healthz").0, 200);
    let t = Instant::now();
    assert_eq!(request(&mut c, "/sleep?ms=200").0, 200);
    assert!(t.elapsed() >= Duration::from_millis(200));
    let (status, body) = request(&mut c, "/stream?chunks=3&interval_ms=10");
    assert_eq!(status, 200);
    assert_eq!(body, "chunk 0\nchunk 1\nchunk 2\n");
    let (_, env) = request(&mut c, "/env");
    assert!(env.contains("TARGET=skiff\n"), "{env}");
}

#[test]
fn default_target_and_failing_readiness() {
    let app = start(&[("FAIL_READINESS", "1")]);
    let mut c = connect(&app);
    assert_eq!(request(&mut c, "/"), (200, "Hello World!\n".to_string()));
    assert_eq!(request(&mut c, "/healthz").0, 500);
}

#[test]
fn crash_exits_with_code_1() {
    let mut app = start(&[]);
    let mut s = TcpStream::connect(("127.0.0.1", app.port)).unwrap();
    write!(s, "GET /crash HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_eq!(exit_code(&mut app), Some(1));
}

#[test]
fn exit_after_ms() {
    let mut app = start(&[("EXIT_AFTER_MS", "300")]);
    assert_eq!(exit_code(&mut app), Some(1));
}

#[test]
fn websocket_echo() {
    let app = start(&[]);
    let stream = TcpStream::connect(("127.0.0.1", app.port)).unwrap();
    let url = format!("ws://127.0.0.1:{}/ws", app.port);
    let (mut ws, _) = tungstenite::client(url.as_str(), stream).unwrap();
    ws.send(tungstenite::Message::Text("ping".into())).unwrap();
    let msg = ws.read().unwrap();
    assert_eq!(msg.into_text().unwrap().as_str(), "ping");
    ws.close(None).unwrap();
}
