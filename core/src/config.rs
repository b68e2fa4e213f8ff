//! Connection settings: limits and the automatic replies.

/// Settings shared by any number of connections. Plain data: cheap to clone,
/// `Send + Sync`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The largest payload of a single frame, in bytes. A larger frame fails
    /// the connection with 1009 as soon as its header arrives. The default
    /// equals the message limit: most peers send each message as one frame,
    /// and a compressed frame of incompressible data is a little larger
    /// than the message it carries.
    pub max_frame_size: u64,
    /// The largest message, in bytes, after any extension (decompression).
    /// Checked before anything is allocated; exceeding it fails with 1009.
    pub max_message_size: u64,
    /// The most frames one message may be split into (1009 beyond). A
    /// fragment costs no memory beyond its payload, so this bounds work, not
    /// memory.
    pub max_fragments: u32,
    /// The largest HTTP head of the opening handshake, in bytes.
    pub max_handshake_size: usize,
    /// The most header lines in the opening handshake.
    pub max_headers: usize,
    /// Answer pings with pongs automatically (RFC 6455 §5.5.2).
    pub auto_pong: bool,
    /// Answer a close frame automatically, echoing its code (§5.5.1).
    pub auto_close: bool,
    /// Deliver messages in pieces as their bytes arrive, instead of whole:
    /// a piece for each read that brings payload bytes of a frame and one at
    /// each frame's end (an empty frame gives an empty piece), so a program
    /// can follow the frames as wsproto's API does.
    pub partial_messages: bool,
    /// Seed the mask-key generator deterministically. For tests only: real
    /// clients must use unpredictable keys (§10.3), which is the default.
    pub mask_seed: Option<u64>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_frame_size: 64 << 20,
            max_message_size: 64 << 20,
            max_fragments: 1 << 17,
            max_handshake_size: 16 << 10,
            max_headers: 100,
            auto_pong: true,
            auto_close: true,
            partial_messages: false,
            mask_seed: None,
        }
    }
}
