//! A small HTTP/1.1 server (hyper): the pages the tool serves its browsers (fixed paths, each with
//! its content type and body, on a port the OS chooses), or pages made per request (the metrics
//! endpoint). It stops when dropped.

use std::collections::HashMap;
use std::convert::Infallible;
use std::io;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode, body::Incoming, header};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use url::Url;

/// One served file: content type and body.
pub type Page = (&'static str, Bytes);

/// Makes the page of a path per request; `None` is a 404.
pub type Handler = Arc<dyn Fn(&str) -> Option<Page> + Send + Sync>;

/// A running server; dropping it stops it.
#[derive(Debug)]
pub struct Server {
    base: Url,
    task: JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    /// Serve `pages` (path → page; `/` is also `/index.html`) on `host`, port chosen by the OS.
    pub async fn start(host: &str, pages: HashMap<&'static str, Page>) -> io::Result<Server> {
        let listener = TcpListener::bind((host, 0)).await?;
        Server::serve(
            listener,
            Arc::new(move |path: &str| {
                let path = if path == "/" { "/index.html" } else { path };
                pages.get(path).cloned()
            }),
        )
    }

    /// Serve what `handler` makes of each request's path on `addr` (port 0: chosen by the OS).
    pub async fn bind(addr: std::net::SocketAddr, handler: Handler) -> io::Result<Server> {
        Server::serve(TcpListener::bind(addr).await?, handler)
    }

    fn serve(listener: TcpListener, handler: Handler) -> io::Result<Server> {
        let addr = listener.local_addr()?;
        let base = Url::parse(&format!("http://{addr}/")).map_err(io::Error::other)?;
        let task = tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    continue;
                };
                let handler = handler.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let page = handler(req.uri().path());
                        async move { Ok::<_, Infallible>(respond(page)) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(sock), service)
                        .await;
                });
            }
        });
        Ok(Server { base, task })
    }

    /// The server's base URL (`http://host:port/`).
    pub fn base(&self) -> &Url {
        &self.base
    }
}

fn respond(page: Option<Page>) -> Response<Full<Bytes>> {
    let (status, ctype, body) = match page {
        Some((ctype, body)) => (StatusCode::OK, ctype, body),
        None => (
            StatusCode::NOT_FOUND,
            "text/plain",
            Bytes::from_static(b"not found"),
        ),
    };
    let mut r = Response::new(Full::new(body));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(ctype),
    );
    h.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn serves_its_pages_and_404s_the_rest() {
        let pages = HashMap::from([
            (
                "/index.html",
                ("text/html; charset=utf-8", Bytes::from_static(b"<p>hi</p>")),
            ),
            ("/a.js", ("text/javascript", Bytes::from_static(b"1;"))),
        ]);
        let s = Server::start("127.0.0.1", pages).await.unwrap();
        let get = |p: &str| reqwest::get(s.base().join(p).unwrap());
        let r = get("/?room=1").await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "text/html; charset=utf-8");
        assert_eq!(r.text().await.unwrap(), "<p>hi</p>");
        assert_eq!(get("a.js").await.unwrap().text().await.unwrap(), "1;");
        assert_eq!(get("nope").await.unwrap().status(), 404);
    }
}
