//! `skiff-sample-app`: Knative's helloworld (`GET /` → `Hello {TARGET}!`), plus the
//! behaviours skiff's tests need from a container: slow, crashing, streaming,
//! unhealthy and WebSocket endpoints. Thread-per-connection HTTP/1.1 with keep-alive,
//! std-only apart from WebSocket framing, so it links as a static binary:
//!
//! ```text
//! RUSTFLAGS="-C target-feature=+crt-static" cargo build --release \
//!     -p skiff-sample-app --target x86_64-unknown-linux-gnu
//! ```
//!
//! Environment: `PORT` (8080), `TARGET` (`World`), `STARTUP_DELAY_MS` (sleep before
//! listening), `EXIT_AFTER_MS` (exit 1 after that long), `FAIL_READINESS=1`
//! (`/healthz` answers 500).
//!
//! Endpoints: `/` (and any unknown path, as helloworld-go does), `/sleep?ms=N`,
//! `/burn?ms=N` (busy CPU), `/crash`, `/stream?chunks=N&interval_ms=M`, `/healthz`, `/env`, `/echo` (the
//! request body back), `/ws` (WebSocket echo).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

/// Exits at once on SIGTERM/SIGINT. As PID 1 in a container a process without a
/// handler ignores SIGTERM, and every stop would wait for the grace period.
fn exit_on_termination() {
    extern "C" fn quit(_: libc::c_int) {
        unsafe { libc::_exit(0) };
    }
    unsafe {
        libc::signal(libc::SIGTERM, quit as *const () as libc::sighandler_t);
        libc::signal(libc::SIGINT, quit as *const () as libc::sighandler_t);
    }
}

fn main() {
    exit_on_termination();
    if let Some(ms) = env_u64("STARTUP_DELAY_MS") {
        println!("sample-app: startup delay {ms} ms");
        std::thread::sleep(Duration::from_millis(ms));
    }
    if let Some(ms) = env_u64("EXIT_AFTER_MS") {
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(ms));
            println!("sample-app: EXIT_AFTER_MS={ms} reached, exiting with code 1");
            std::process::exit(1);
        });
    }
    let port = env_u64("PORT").unwrap_or(8080);
    let listener = match TcpListener::bind(("0.0.0.0", port as u16)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("sample-app: cannot listen on 0.0.0.0:{port}: {e}");
            std::process::exit(2);
        }
    };
    println!("sample-app: listening on 0.0.0.0:{port}");
    for conn in listener.incoming() {
        match conn {
            Ok(stream) => {
                std::thread::spawn(move || {
                    let _ = serve_connection(stream);
                });
            }
            Err(e) => eprintln!("sample-app: accept: {e}"),
        }
    }
}

/// One parsed request head (the body is read by the handler that needs it).
struct Request {
    method: String,
    path: String,
    query: String,
    version: String,
    headers: Vec<(String, String)>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn query_u64(&self, key: &str) -> Option<u64> {
        self.query.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            (k == key).then(|| v.parse().ok()).flatten()
        })
    }

    /// HTTP/1.1 keeps the connection unless `Connection: close`; 1.0 only with keep-alive.
    fn keep_alive(&self) -> bool {
        let conn = self.header("connection").unwrap_or("").to_ascii_lowercase();
        if self.version == "HTTP/1.0" {
            conn.contains("keep-alive")
        } else {
            !conn.contains("close")
        }
    }
}

fn read_head(reader: &mut BufReader<TcpStream>) -> io::Result<Option<Request>> {
    let mut line = String::new();
    // Skip stray blank lines between requests.
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        if !line.trim().is_empty() {
            break;
        }
    }
    let mut parts = line.split_whitespace();
    let (method, target, version) = match (parts.next(), parts.next(), parts.next()) {
        (Some(m), Some(t), Some(v)) => (m.to_string(), t.to_string(), v.to_string()),
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "bad request line",
            ))
        }
    };
    let mut headers = Vec::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (target, String::new()),
    };
    Ok(Some(Request {
        method,
        path,
        query,
        version,
        headers,
    }))
}

/// Reads the request body (Content-Length or chunked).
fn read_body(reader: &mut BufReader<TcpStream>, req: &Request) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    if req
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    {
        let mut line = String::new();
        loop {
            line.clear();
            reader.read_line(&mut line)?;
            let size_str = line.trim().split(';').next().unwrap_or("");
            let size = usize::from_str_radix(size_str, 16)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"))?;
            if size == 0 {
                // Trailers until a blank line.
                loop {
                    line.clear();
                    if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
                        break;
                    }
                }
                break;
            }
            let start = body.len();
            body.resize(start + size, 0);
            reader.read_exact(&mut body[start..])?;
            line.clear();
            reader.read_line(&mut line)?;
        }
    } else if let Some(len) = req.header("content-length").and_then(|v| v.parse().ok()) {
        body.resize(len, 0);
        reader.read_exact(&mut body)?;
    }
    Ok(body)
}

fn write_response(
    stream: &mut TcpStream,
    status: u16,
    reason: &str,
    content_type: &str,
    body: &[u8],
    keep_alive: bool,
) -> io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: {}\r\n\r\n",
        body.len(),
        if keep_alive { "keep-alive" } else { "close" }
    );
    let mut buf = head.into_bytes();
    buf.extend_from_slice(body);
    stream.write_all(&buf)?;
    stream.flush()
}

fn serve_connection(stream: TcpStream) -> io::Result<()> {
    let _ = stream.set_nodelay(true);
    let peer = stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    while let Some(req) = read_head(&mut reader)? {
        let started = Instant::now();
        let keep_alive = req.keep_alive();
        let status = handle(&req, &mut reader, &mut writer, keep_alive)?;
        println!(
            "{} {} {}{} {} {}ms",
            peer,
            req.method,
            req.path,
            if req.query.is_empty() {
                String::new()
            } else {
                format!("?{}", req.query)
            },
            status,
            started.elapsed().as_millis()
        );
        if status == 101 || !keep_alive {
            break;
        }
    }
    Ok(())
}

/// Serves one request; returns the status code sent (101 = connection taken over).
fn handle(
    req: &Request,
    reader: &mut BufReader<TcpStream>,
    w: &mut TcpStream,
    keep_alive: bool,
) -> io::Result<u16> {
    let body = if req.path == "/ws" {
        Vec::new()
    } else {
        read_body(reader, req)?
    };
    let text = "text/plain; charset=utf-8";
    match req.path.as_str() {
        "/healthz" => {
            if std::env::var("FAIL_READINESS").as_deref() == Ok("1") {
                write_response(
                    w,
                    500,
                    "Internal Server Error",
                    text,
                    b"not ready\n",
                    keep_alive,
                )?;
                Ok(500)
            } else {
                write_response(w, 200, "OK", text, b"ok\n", keep_alive)?;
                Ok(200)
            }
        }
        "/sleep" => {
            let ms = req.query_u64("ms").unwrap_or(0);
            std::thread::sleep(Duration::from_millis(ms));
            let msg = format!("slept {ms} ms\n");
            write_response(w, 200, "OK", text, msg.as_bytes(), keep_alive)?;
            Ok(200)
        }
        "/burn" => {
            // Busy CPU for `ms` milliseconds (the HPA class scales on CPU use).
            let ms = req.query_u64("ms").unwrap_or(100);
            let until = Instant::now() + Duration::from_millis(ms);
            let mut spins: u64 = 0;
            while Instant::now() < until {
                spins = std::hint::black_box(spins.wrapping_add(1));
            }
            let msg = format!("burned {ms} ms of CPU\n");
            write_response(w, 200, "OK", text, msg.as_bytes(), keep_alive)?;
            Ok(200)
        }
        "/crash" => {
            println!("{} /crash: exiting with code 1", req.method);
            std::process::exit(1);
        }
        "/stream" => {
            let chunks = req.query_u64("chunks").unwrap_or(5);
            let interval = req.query_u64("interval_ms").unwrap_or(100);
            write!(
                w,
                "HTTP/1.1 200 OK\r\nContent-Type: {text}\r\nTransfer-Encoding: chunked\r\nConnection: {}\r\n\r\n",
                if keep_alive { "keep-alive" } else { "close" }
            )?;
            w.flush()?;
            for i in 0..chunks {
                if i > 0 {
                    std::thread::sleep(Duration::from_millis(interval));
                }
                let line = format!("chunk {i}\n");
                write!(w, "{:x}\r\n{line}\r\n", line.len())?;
                w.flush()?;
            }
            w.write_all(b"0\r\n\r\n")?;
            w.flush()?;
            Ok(200)
        }
        "/env" => {
            let mut vars: Vec<String> = std::env::vars()
                .map(|(k, v)| format!("{k}={v}\n"))
                .collect();
            vars.sort();
            write_response(w, 200, "OK", text, vars.concat().as_bytes(), keep_alive)?;
            Ok(200)
        }
        "/echo" => {
            write_response(w, 200, "OK", "application/octet-stream", &body, keep_alive)?;
            Ok(200)
        }
        "/ws" => websocket_echo(req, reader, w),
        _ => {
            let target = std::env::var("TARGET").unwrap_or_else(|_| "World".to_string());
            let msg = format!("Hello {target}!\n");
            write_response(w, 200, "OK", text, msg.as_bytes(), keep_alive)?;
            Ok(200)
        }
    }
}

/// Upgrades to WebSocket and echoes every text/binary message until the client closes.
fn websocket_echo(
    req: &Request,
    reader: &mut BufReader<TcpStream>,
    w: &mut TcpStream,
) -> io::Result<u16> {
    let key = match req.header("sec-websocket-key") {
        Some(k)
            if req
                .header("upgrade")
                .is_some_and(|u| u.eq_ignore_ascii_case("websocket")) =>
        {
            k.to_string()
        }
        _ => {
            write_response(
                w,
                400,
                "Bad Request",
                "text/plain",
                b"expected a WebSocket upgrade\n",
                false,
            )?;
            return Ok(400);
        }
    };
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    write!(
        w,
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
    )?;
    w.flush()?;
    // Bytes the client sent after the handshake that are already buffered.
    let leftover = reader.buffer().to_vec();
    let stream = w.try_clone()?;
    let mut ws = tungstenite::WebSocket::from_partially_read(
        stream,
        leftover,
        tungstenite::protocol::Role::Server,
        None,
    );
    loop {
        match ws.read() {
            Ok(msg @ (tungstenite::Message::Text(_) | tungstenite::Message::Binary(_))) => {
                if ws.send(msg).is_err() {
                    break;
                }
            }
            Ok(tungstenite::Message::Close(_)) => {
                let _ = ws.flush();
                break;
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    Ok(101)
}
