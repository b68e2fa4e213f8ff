//! # wsproto-core
//!
//! A sans-IO implementation of the WebSocket protocol (RFC 6455) for both
//! client and server. The core never touches a socket or a clock: the caller
//! moves bytes, the core turns them into events and turns commands into
//! bytes. The same engine backs the C, Python and Node bindings.
//!
//! ## The order of calls
//!
//! 1. Create a [`Connection`]: [`Connection::client`] (its opening request
//!    is queued at once) or [`Connection::server`].
//! 2. Whenever the transport delivers bytes, pass them to
//!    [`Connection::receive`] (and [`Connection::receive_eof`] at end of
//!    stream), then call [`Connection::poll_event`] until it returns
//!    `Ok(None)`. Borrowed payloads in an [`Event`] stay valid until the next
//!    call on the connection.
//! 3. Issue commands: [`Connection::accept`] / [`Connection::reject`] for a
//!    server's [`Event::Request`], `send_text`, `send_binary`,
//!    `send_fragment`, `send_ping`, `send_pong`, `close`.
//! 4. Write [`Connection::output`] to the transport and report what was
//!    written with [`Connection::consume_output`] (or [`Connection::take_output`]).
//! 5. When [`Connection::should_close_transport`] is true, close it (a
//!    client after a clean close handshake preferably once the server has
//!    closed, RFC 6455 §7.1.1: see that method).
//!
//! An error from `poll_event` means the peer broke the protocol: the close
//! frame (or HTTP error response) is already queued — write it out and close.
//! An error from a command means the program misused the API and nothing
//! changed.
//!
//! ```
//! use wsproto_core::{ClientHandshake, Config, Connection, Event, Accept};
//!
//! let mut client = Connection::client(Config::default(), ClientHandshake {
//!     host: "example.com".into(), path: "/chat".into(), ..Default::default()
//! }).unwrap();
//! let mut server = Connection::server(Config::default());
//!
//! server.receive(&client.take_output());
//! let Some(Event::Request(req)) = server.poll_event().unwrap() else { panic!() };
//! assert_eq!(req.path(), "/chat");
//! server.accept(Accept::default()).unwrap();
//!
//! client.receive(&server.take_output());
//! assert!(matches!(client.poll_event().unwrap(), Some(Event::Accepted(_))));
//! client.send_text("hello").unwrap();
//! server.receive(&client.take_output());
//! assert_eq!(server.poll_event().unwrap(), Some(Event::Text("hello")));
//! ```

pub mod close;
mod config;
mod connection;
mod error;
pub mod extension;
pub mod frame;
pub mod handshake;
pub mod mask;
pub mod random;
pub mod utf8;

pub use bytes::Bytes;
pub use config::Config;
pub use connection::{Connection, DataKind, Event, PayloadPiece, Role, State, SHARE_MIN};
pub use error::{Error, ErrorKind};
pub use extension::{Extension, ExtensionError, ExtensionOffer};
pub use handshake::{accept_key, Accept, ClientHandshake, Header, Reject, Request, Response};
pub use random::{OsRandom, Random, SeededRandom};
