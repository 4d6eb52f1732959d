//! Fake camera and microphone: Y4M video and WAV audio generated on demand and cached, or user files.
//!
//! Chrome plays these through `--use-file-for-fake-video-capture` / `--use-file-for-fake-audio-capture`
//! and loops them. Generated video shows a moving pattern, a frame counter (so frozen video is visible
//! in screenshots) and a machine-readable frame code (so pages measure delay, freezes and picture
//! quality per stream, see docs/quality.md); generated speech is talk spurts and pauses, like a person
//! speaking.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// A generated video preset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoPreset {
    /// Preset name as written in scenarios.
    pub name: &'static str,
    /// Frame width in pixels.
    pub width: u32,
    /// Frame height in pixels.
    pub height: u32,
    /// Frames per second.
    pub fps: u32,
}

/// The video presets, cheapest first.
pub const VIDEO_PRESETS: [VideoPreset; 4] = [
    VideoPreset {
        name: "tiny",
        width: 160,
        height: 120,
        fps: 10,
    },
    VideoPreset {
        name: "small",
        width: 320,
        height: 240,
        fps: 15,
    },
    VideoPreset {
        name: "vga",
        width: 640,
        height: 480,
        fps: 20,
    },
    VideoPreset {
        name: "hd",
        width: 1280,
        height: 720,
        fps: 30,
    },
];

/// Seconds of video in a generated loop: frame codes repeat after this (see [`code`]).
pub const VIDEO_LOOP_SECS: u32 = 10;
/// Seconds of audio in a generated loop.
const AUDIO_LOOP_SECS: u32 = 12;
const SAMPLE_RATE: u32 = 48_000;
/// Bump when generated content changes, so caches refresh.
const GENERATOR_VERSION: u32 = 2;

/// What a video sender's camera plays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VideoSource {
    /// Chrome's built-in fake pattern (640x480 at 20 fps).
    Chrome,
    /// A generated preset.
    Preset(VideoPreset),
    /// A user-supplied `.y4m` file.
    File(PathBuf),
}

/// What an audio sender's microphone plays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AudioSource {
    /// Chrome's built-in fake beep.
    Chrome,
    /// A generated continuous 1 kHz tone.
    Tone,
    /// Generated speech-like talk spurts and pauses.
    Speech,
    /// A user-supplied `.wav` file.
    File(PathBuf),
}

fn user_file(text: &str, base: &Path, ext: &str) -> Result<PathBuf, String> {
    let p = Path::new(text);
    let p = if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    };
    let ok_ext = p.extension().is_some_and(|e| e.eq_ignore_ascii_case(ext));
    if !ok_ext {
        return Err(format!("{text:?} is neither a preset nor a .{ext} file"));
    }
    if !p.is_file() {
        return Err(format!("media file {} does not exist", p.display()));
    }
    p.canonicalize()
        .map_err(|e| format!("media file {}: {e}", p.display()))
}

impl VideoSource {
    /// Parse a scenario value; relative paths resolve against `base` (the scenario's directory).
    pub fn parse(text: &str, base: &Path) -> Result<Self, String> {
        if text == "chrome" {
            return Ok(VideoSource::Chrome);
        }
        if let Some(p) = VIDEO_PRESETS.iter().find(|p| p.name == text) {
            return Ok(VideoSource::Preset(*p));
        }
        let names: Vec<&str> = VIDEO_PRESETS.iter().map(|p| p.name).collect();
        user_file(text, base, "y4m")
            .map(VideoSource::File)
            .map_err(|e| {
                format!(
                    "{e} (expected one of {}, \"chrome\", or a path to a .y4m file)",
                    names.join(", ")
                )
            })
    }

    /// The camera's frame rate: the preset's, Chrome's built-in 20, or the Y4M header's `F` field.
    pub fn fps(&self) -> Option<f64> {
        match self {
            VideoSource::Chrome => Some(20.0),
            VideoSource::Preset(p) => Some(p.fps as f64),
            VideoSource::File(f) => {
                use std::io::Read;
                let mut head = [0u8; 128];
                let n = fs::File::open(f).ok()?.read(&mut head).ok()?;
                let text = String::from_utf8_lossy(&head[..n]);
                let field = text
                    .lines()
                    .next()?
                    .split(' ')
                    .find_map(|t| t.strip_prefix('F'))?;
                let (num, den) = field.split_once(':')?;
                let (num, den): (f64, f64) = (num.parse().ok()?, den.parse().ok()?);
                (den > 0.0).then(|| num / den)
            }
        }
    }

    /// Short description for plans and reports, e.g. `small (320x240@15)`.
    pub fn describe(&self) -> String {
        match self {
            VideoSource::Chrome => "chrome (built-in 640x480@20)".into(),
            VideoSource::Preset(p) => format!("{} ({}x{}@{})", p.name, p.width, p.height, p.fps),
            VideoSource::File(f) => f.display().to_string(),
        }
    }
}

impl AudioSource {
    /// Parse a scenario value; relative paths resolve against `base`.
    pub fn parse(text: &str, base: &Path) -> Result<Self, String> {
        match text {
            "chrome" => Ok(AudioSource::Chrome),
            "tone" => Ok(AudioSource::Tone),
            "speech" => Ok(AudioSource::Speech),
            _ => user_file(text, base, "wav")
                .map(AudioSource::File)
                .map_err(|e| {
                    format!(
                        "{e} (expected \"speech\", \"tone\", \"chrome\", or a path to a .wav file)"
                    )
                }),
        }
    }

    /// Short description for plans and reports.
    pub fn describe(&self) -> String {
        match self {
            AudioSource::Chrome => "chrome (built-in beep)".into(),
            AudioSource::Tone => "tone (1 kHz)".into(),
            AudioSource::Speech => "speech (talk spurts)".into(),
            AudioSource::File(f) => f.display().to_string(),
        }
    }
}

/// The files a sender's browser plays; `None` means Chrome's built-in fake device.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PreparedMedia {
    /// Y4M file for video senders.
    pub video: Option<PathBuf>,
    /// WAV file for audio senders.
    pub audio: Option<PathBuf>,
}

impl PreparedMedia {
    /// The same files as seen from a grid node whose copies live in `dir`.
    pub fn on_node(&self, dir: Option<&Path>) -> PreparedMedia {
        let map = |p: &Option<PathBuf>| match (p, dir) {
            (Some(p), Some(d)) => p.file_name().map(|n| d.join(n)),
            (p, _) => p.clone(),
        };
        PreparedMedia {
            video: map(&self.video),
            audio: map(&self.audio),
        }
    }
}

/// Where generated media are cached: `$LOADTEST_CACHE`, else `$XDG_CACHE_HOME/loadtest`, else
/// `~/.cache/loadtest`.
pub fn cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("LOADTEST_CACHE") {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(d).join("loadtest");
    }
    std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(".cache/loadtest"))
        .unwrap_or_else(|| std::env::temp_dir().join("loadtest-cache"))
}

/// Generate (or reuse from `cache`) the files the sources need.
pub fn prepare(
    video: &VideoSource,
    audio: &AudioSource,
    cache: &Path,
) -> io::Result<PreparedMedia> {
    let dir = cache.join("media");
    fs::create_dir_all(&dir)?;
    let video = match video {
        VideoSource::Chrome => None,
        VideoSource::File(f) => Some(f.clone()),
        VideoSource::Preset(p) => {
            let path = dir.join(format!(
                "video-{}-{}x{}-{}fps-v{GENERATOR_VERSION}.y4m",
                p.name, p.width, p.height, p.fps
            ));
            cached(&path, |w| {
                write_y4m(w, p.width, p.height, p.fps, loop_frames(p.fps))
            })?;
            Some(path)
        }
    };
    let audio = match audio {
        AudioSource::Chrome => None,
        AudioSource::File(f) => Some(f.clone()),
        AudioSource::Tone => {
            let path = dir.join(format!("audio-tone-v{GENERATOR_VERSION}.wav"));
            cached(&path, |w| write_wav(w, &tone_samples(AUDIO_LOOP_SECS)))?;
            Some(path)
        }
        AudioSource::Speech => {
            let path = dir.join(format!("audio-speech-v{GENERATOR_VERSION}.wav"));
            cached(&path, |w| {
                write_wav(w, &speech_samples(AUDIO_LOOP_SECS, 0x5eed))
            })?;
            Some(path)
        }
    };
    Ok(PreparedMedia { video, audio })
}

/// Write `path` once, atomically, so parallel runs never see half a file.
fn cached(path: &Path, write: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> io::Result<()> {
    if path.is_file() {
        return Ok(());
    }
    crate::util::fs::write_atomic_with(path, write)
}

/// 3x5 bitmaps of the digits 0-9, one row per 3 bits.
const DIGITS: [[u8; 5]; 10] = [
    [0b111, 0b101, 0b101, 0b101, 0b111],
    [0b010, 0b110, 0b010, 0b010, 0b111],
    [0b111, 0b001, 0b111, 0b100, 0b111],
    [0b111, 0b001, 0b111, 0b001, 0b111],
    [0b101, 0b101, 0b111, 0b001, 0b001],
    [0b111, 0b100, 0b111, 0b001, 0b111],
    [0b111, 0b100, 0b111, 0b101, 0b111],
    [0b111, 0b001, 0b010, 0b010, 0b010],
    [0b111, 0b101, 0b111, 0b101, 0b111],
    [0b111, 0b101, 0b111, 0b001, 0b111],
];

/// The machine-readable code in the top strip of every generated frame (see docs/quality.md).
///
/// A row of [`CODE_CELLS`] equal cells across the full width, [`code_strip_height`] rows high, each
/// black (luma 16) or white (235): cell 0 black and cell 1 white (the reading threshold), then the
/// frame's index in the loop (9 bits), the camera's frame rate (5 bits) and a CRC-8 of both (8 bits),
/// most significant bit first. Cells are at least 6 pixels wide and 8 high at `tiny`, so their centres
/// survive VP8 at low bitrates; the reader samples each cell's centre, so a scaled frame reads too.
pub mod code {
    /// Cells in the code strip.
    pub const CODE_CELLS: usize = 24;
    /// Luma of a 0 cell.
    pub const BLACK: u8 = 16;
    /// Luma of a 1 cell.
    pub const WHITE: u8 = 235;
    /// Bits of the frame index.
    pub const INDEX_BITS: u32 = 9;
    /// Bits of the frame rate.
    pub const FPS_BITS: u32 = 5;

    /// Height in rows of the code strip of a `height`-row frame: a fifteenth, even, at least 8.
    pub fn code_strip_height(height: u32) -> u32 {
        ((height / 15) & !1).max(8).min(height)
    }

    /// CRC-8 (polynomial 0x07, initial value 0) of `bytes`.
    pub fn crc8(bytes: &[u8]) -> u8 {
        let mut crc = 0u8;
        for &b in bytes {
            crc ^= b;
            for _ in 0..8 {
                crc = if crc & 0x80 != 0 {
                    (crc << 1) ^ 0x07
                } else {
                    crc << 1
                };
            }
        }
        crc
    }

    /// The 24 cell values (true = white) of frame `index` of a loop at `fps` frames per second.
    pub fn cells(index: u32, fps: u32) -> [bool; CODE_CELLS] {
        let payload =
            ((index & ((1 << INDEX_BITS) - 1)) << FPS_BITS) | (fps & ((1 << FPS_BITS) - 1));
        let crc = crc8(&[(payload >> 8) as u8, payload as u8]);
        let word = (payload << 8) | crc as u32; // 22 bits
        let mut out = [false; CODE_CELLS];
        out[1] = true;
        for (i, cell) in out.iter_mut().enumerate().skip(2) {
            *cell = word >> (CODE_CELLS - 1 - i) & 1 == 1;
        }
        out
    }
}

/// Frames in a generated loop at `fps`: [`VIDEO_LOOP_SECS`] seconds, so a frame code is unambiguous
/// over any delay shorter than that.
pub fn loop_frames(fps: u32) -> u32 {
    fps * VIDEO_LOOP_SECS
}

/// The luma plane of frame `index` of a generated loop: a drifting gradient and a sweeping bar (a
/// 2-second motion cycle), the frame number as digits, and the frame code strip on top. Integer
/// arithmetic only: `assets/js/quality.js` rebuilds the same plane as the reference for PSNR/SSIM.
pub fn frame_luma(width: u32, height: u32, fps: u32, index: u32) -> Vec<u8> {
    let (wi, hi) = (width as usize, height as usize);
    let mut y = vec![0u8; wi * hi];
    let period = (2 * fps).max(1) as usize;
    let p = index as usize % period;
    let (shift, bar) = (p * 256 / period, p * wi / period);
    for row in 0..hi {
        for col in 0..wi {
            let g = ((col * 256 / wi + shift) & 0xff) as u8;
            let in_bar = col.abs_diff(bar) < wi / 20 + 1;
            y[row * wi + col] = if in_bar {
                235
            } else {
                16 + g / 2 + (row * 64 / hi) as u8
            };
        }
    }
    let strip = code::code_strip_height(height) as usize;
    draw_counter(&mut y, wi, hi, strip, index);
    let cells = code::cells(index, fps);
    for (i, &white) in cells.iter().enumerate() {
        let (x0, x1) = (i * wi / code::CODE_CELLS, (i + 1) * wi / code::CODE_CELLS);
        let v = if white { code::WHITE } else { code::BLACK };
        for row in y.chunks_mut(wi).take(strip) {
            row[x0..x1].fill(v);
        }
    }
    y
}

/// The frame number, 4 digits, white on black, just below the code strip.
fn draw_counter(y: &mut [u8], wi: usize, hi: usize, top: usize, index: u32) {
    let scale = (wi / 80).max(2);
    let text = format!("{:04}", index % 10_000);
    let (ox, oy) = (scale, top + scale);
    for (i, ch) in text.bytes().enumerate() {
        let glyph = DIGITS[(ch - b'0') as usize];
        for gy in 0..7 {
            for gx in 0..5 {
                let lit = (1..6).contains(&gy)
                    && (1..4).contains(&gx)
                    && glyph[gy - 1] & (1 << (3 - gx)) != 0;
                for dy in 0..scale {
                    for dx in 0..scale {
                        let px = ox + (i * 5 + gx) * scale + dx;
                        let py = oy + gy * scale + dy;
                        if px < wi && py < hi {
                            y[py * wi + px] = if lit { 235 } else { 16 };
                        }
                    }
                }
            }
        }
    }
}

/// Write a YUV 4:2:0 Y4M stream of `frames` frames ([`frame_luma`] and colour quadrants).
pub fn write_y4m(
    w: &mut dyn Write,
    width: u32,
    height: u32,
    fps: u32,
    frames: u32,
) -> io::Result<()> {
    writeln!(w, "YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg")?;
    let (cw, ch) = ((width / 2) as usize, (height / 2) as usize);
    let mut u = vec![0u8; cw * ch];
    let mut v = vec![0u8; cw * ch];
    for row in 0..ch {
        for col in 0..cw {
            let q = (row * 2 / ch.max(1)) * 2 + col * 2 / cw.max(1);
            let (cu, cv) = [(90u8, 240u8), (240, 110), (54, 34), (160, 160)][q.min(3)];
            u[row * cw + col] = cu;
            v[row * cw + col] = cv;
        }
    }
    // The code strip is neutral grey in chroma, so it reads the same in any colour conversion.
    for plane in [&mut u, &mut v] {
        let strip = (code::code_strip_height(height) / 2) as usize;
        plane[..strip.min(ch) * cw].fill(128);
    }
    for f in 0..frames {
        w.write_all(b"FRAME\n")?;
        w.write_all(&frame_luma(width, height, fps, f))?;
        w.write_all(&u)?;
        w.write_all(&v)?;
    }
    Ok(())
}

/// Write 16-bit mono PCM at 48 kHz.
pub fn write_wav(w: &mut dyn Write, samples: &[i16]) -> io::Result<()> {
    let data_len = (samples.len() * 2) as u32;
    w.write_all(b"RIFF")?;
    w.write_all(&(36 + data_len).to_le_bytes())?;
    w.write_all(b"WAVEfmt ")?;
    w.write_all(&16u32.to_le_bytes())?;
    w.write_all(&1u16.to_le_bytes())?; // PCM
    w.write_all(&1u16.to_le_bytes())?; // mono
    w.write_all(&SAMPLE_RATE.to_le_bytes())?;
    w.write_all(&(SAMPLE_RATE * 2).to_le_bytes())?;
    w.write_all(&2u16.to_le_bytes())?;
    w.write_all(&16u16.to_le_bytes())?;
    w.write_all(b"data")?;
    w.write_all(&data_len.to_le_bytes())?;
    for s in samples {
        w.write_all(&s.to_le_bytes())?;
    }
    Ok(())
}

fn tone_samples(secs: u32) -> Vec<i16> {
    (0..SAMPLE_RATE * secs)
        .map(|i| {
            let t = i as f64 / SAMPLE_RATE as f64;
            (8000.0 * (2.0 * std::f64::consts::PI * 1000.0 * t).sin()) as i16
        })
        .collect()
}

/// A small deterministic PRNG (xorshift64*), so generated files are identical everywhere.
struct Rng(u64);
impl Rng {
    fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
    fn exp(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.next_f64()).ln()
    }
}

/// Talk spurts (mean 1.0 s) and pauses (mean 0.5 s, ITU-T P.59-like); within a spurt, a voiced
/// harmonic signal whose pitch glides and whose loudness follows ~4 syllables a second.
pub fn speech_samples(secs: u32, seed: u64) -> Vec<i16> {
    let total = (SAMPLE_RATE * secs) as usize;
    let mut out = Vec::with_capacity(total);
    let mut rng = Rng(seed | 1);
    let mut talking = true;
    let mut phase = 0.0f64;
    while out.len() < total {
        let len = if talking {
            rng.exp(1.0).clamp(0.3, 3.0)
        } else {
            rng.exp(0.5).clamp(0.2, 1.5)
        };
        let n = ((len * SAMPLE_RATE as f64) as usize).min(total - out.len());
        let pitch0 = 110.0 + 90.0 * rng.next_f64();
        let syll = 3.0 + 2.0 * rng.next_f64();
        for i in 0..n {
            if !talking {
                out.push(0);
                continue;
            }
            let t = i as f64 / SAMPLE_RATE as f64;
            let pitch = pitch0 * (1.0 + 0.15 * (2.0 * std::f64::consts::PI * 0.7 * t).sin());
            phase += 2.0 * std::f64::consts::PI * pitch / SAMPLE_RATE as f64;
            let voiced: f64 = (1..=6).map(|h| (phase * h as f64).sin() / h as f64).sum();
            let env = (std::f64::consts::PI * syll * t).sin().abs().powf(0.6);
            let edge = (t / 0.02).min(1.0) * ((len - t) / 0.02).clamp(0.0, 1.0);
            out.push((6000.0 * voiced * env * edge) as i16);
        }
        talking = !talking;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn y4m_has_header_and_frames_of_the_right_size() {
        let mut buf = Vec::new();
        write_y4m(&mut buf, 32, 16, 10, 3).unwrap();
        let header = b"YUV4MPEG2 W32 H16 F10:1 Ip A1:1 C420jpeg\n";
        assert!(buf.starts_with(header));
        let frame = 6 + 32 * 16 * 3 / 2;
        assert_eq!(buf.len(), header.len() + 3 * frame);
        // Frames differ (the pattern moves).
        let f0 = &buf[header.len()..header.len() + frame];
        let f1 = &buf[header.len() + frame..header.len() + 2 * frame];
        assert_ne!(f0, f1);
    }

    /// Read the code strip the way the page does: the centre of each cell, thresholded halfway
    /// between the two reference cells.
    fn read_cells(y: &[u8], width: u32, height: u32) -> Vec<bool> {
        let (wi, row) = (width as usize, code::code_strip_height(height) as usize / 2);
        let centre = |i: usize| y[row * wi + (2 * i + 1) * wi / (2 * code::CODE_CELLS)];
        let thr = (centre(0) as u32 + centre(1) as u32) / 2;
        (0..code::CODE_CELLS)
            .map(|i| centre(i) as u32 > thr)
            .collect()
    }

    #[test]
    fn every_preset_frame_carries_its_code_and_the_loop_lasts_ten_seconds() {
        for p in VIDEO_PRESETS {
            let n = loop_frames(p.fps);
            assert!(n as f64 / p.fps as f64 >= 10.0, "{}", p.name);
            assert!(n < 1 << code::INDEX_BITS && p.fps < 1 << code::FPS_BITS);
            let strip = code::code_strip_height(p.height);
            assert!(
                strip >= 8 && p.width as usize / code::CODE_CELLS >= 6,
                "{}",
                p.name
            );
            for f in [0, 1, n / 2, n - 1] {
                let y = frame_luma(p.width, p.height, p.fps, f);
                assert_eq!(read_cells(&y, p.width, p.height), code::cells(f, p.fps));
            }
        }
    }

    #[test]
    fn codes_are_distinct_and_checked() {
        let all: std::collections::BTreeSet<_> = (0..300).map(|i| code::cells(i, 30)).collect();
        assert_eq!(all.len(), 300);
        // The reference cells, then 9 index bits (5 = 000000101), 5 fps bits (10 = 01010), CRC-8.
        let c = code::cells(5, 10);
        let bits: String = c.iter().map(|&b| if b { '1' } else { '0' }).collect();
        assert_eq!(code::crc8(&[]), 0);
        let payload = (5u32 << 5) | 10;
        let crc = code::crc8(&[(payload >> 8) as u8, payload as u8]);
        assert_eq!(bits, format!("01{:09b}{:05b}{crc:08b}", 5, 10));
        // CRC-8/ATM check value.
        assert_eq!(code::crc8(b"123456789"), 0xf4);
    }

    #[test]
    fn the_picture_moves_and_the_strip_is_grey_in_chroma() {
        let a = frame_luma(160, 120, 10, 3);
        let b = frame_luma(160, 120, 10, 4);
        let strip = 8 * 160;
        assert_ne!(a[strip..], b[strip..], "the picture moves");
        // Same phase of the 2-second motion cycle, different code.
        let c = frame_luma(160, 120, 10, 23);
        let counter_rows = 8 * 160..(8 + 2 + 7 * 2) * 160;
        let mut a2 = a.clone();
        let mut c2 = c.clone();
        for v in [&mut a2, &mut c2] {
            v[..strip].fill(0);
            v[counter_rows.clone()].fill(0);
        }
        assert_eq!(a2, c2);
        let mut buf = Vec::new();
        write_y4m(&mut buf, 160, 120, 10, 1).unwrap();
        let head = "YUV4MPEG2 W160 H120 F10:1 Ip A1:1 C420jpeg\nFRAME\n".len();
        let u = &buf[head + 160 * 120..head + 160 * 120 + 80 * 60];
        assert!(u[..4 * 80].iter().all(|&x| x == 128));
        assert_eq!(u[4 * 80], 90);
    }

    #[test]
    fn wav_header_matches_data() {
        let mut buf = Vec::new();
        write_wav(&mut buf, &[0, 1, -1, 100]).unwrap();
        assert_eq!(&buf[0..4], b"RIFF");
        assert_eq!(u32::from_le_bytes(buf[4..8].try_into().unwrap()), 36 + 8);
        assert_eq!(u32::from_le_bytes(buf[40..44].try_into().unwrap()), 8);
        assert_eq!(buf.len(), 44 + 8);
    }

    #[test]
    fn speech_has_talk_and_silence() {
        let s = speech_samples(6, 7);
        assert_eq!(s.len(), 6 * SAMPLE_RATE as usize);
        let silent = s.chunks(4800).filter(|c| c.iter().all(|&x| x == 0)).count();
        let loud = s
            .chunks(4800)
            .filter(|c| c.iter().any(|&x| x.abs() > 1000))
            .count();
        assert!(silent > 3 && loud > 10, "silent {silent} loud {loud}");
        assert_eq!(s, speech_samples(6, 7), "deterministic");
    }

    #[test]
    fn sources_parse_presets_and_reject_bad_files() {
        let base = Path::new("/");
        assert_eq!(
            VideoSource::parse("small", base).unwrap(),
            VideoSource::Preset(VIDEO_PRESETS[1])
        );
        assert!(
            VideoSource::parse("/nonexistent.y4m", base)
                .unwrap_err()
                .contains("does not exist")
        );
        assert!(
            VideoSource::parse("movie.mp4", base)
                .unwrap_err()
                .contains("expected one of")
        );
        assert_eq!(
            AudioSource::parse("speech", base).unwrap(),
            AudioSource::Speech
        );
    }

    #[test]
    fn prepare_caches_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = prepare(
            &VideoSource::Preset(VIDEO_PRESETS[0]),
            &AudioSource::Tone,
            dir.path(),
        )
        .unwrap();
        let v = p.video.unwrap();
        let len = fs::metadata(&v).unwrap().len();
        assert_eq!(len as usize, 43 + 100 * (6 + 160 * 120 * 3 / 2));
        assert!(v.to_string_lossy().ends_with("-v2.y4m"), "{}", v.display());
        let node = PreparedMedia {
            video: Some(v.clone()),
            audio: None,
        }
        .on_node(Some(Path::new("/srv/m")));
        assert_eq!(
            node.video.unwrap(),
            Path::new("/srv/m").join(v.file_name().unwrap())
        );
    }
}
