//! Fake camera and microphone: Y4M video and WAV audio generated on demand and cached, or user files.
//!
//! Chrome plays these through `--use-file-for-fake-video-capture` / `--use-file-for-fake-audio-capture`
//! and loops them. Generated video shows a moving pattern and a frame counter (so frozen video is visible
//! in screenshots); generated speech is talk spurts and pauses, like a person speaking.

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

/// Seconds of video in a generated loop.
const VIDEO_LOOP_SECS: u32 = 2;
/// Seconds of audio in a generated loop.
const AUDIO_LOOP_SECS: u32 = 12;
const SAMPLE_RATE: u32 = 48_000;
/// Bump when generated content changes, so caches refresh.
const GENERATOR_VERSION: u32 = 1;

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
                write_y4m(w, p.width, p.height, p.fps, p.fps * VIDEO_LOOP_SECS)
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

/// Write a YUV 4:2:0 Y4M stream of `frames` frames: a drifting gradient, a sweeping bar, colour
/// quadrants and the frame number in the top-left corner.
pub fn write_y4m(
    w: &mut dyn Write,
    width: u32,
    height: u32,
    fps: u32,
    frames: u32,
) -> io::Result<()> {
    let (wi, hi) = (width as usize, height as usize);
    writeln!(w, "YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg")?;
    let mut y = vec![0u8; wi * hi];
    let (cw, ch) = (wi / 2, hi / 2);
    let mut u = vec![0u8; cw * ch];
    let mut v = vec![0u8; cw * ch];
    let scale = (width / 80).max(2) as usize;
    for f in 0..frames as usize {
        let shift = f * 256 / frames.max(1) as usize;
        let bar = f * wi / frames.max(1) as usize;
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
        for row in 0..ch {
            for col in 0..cw {
                let q = (row * 2 / ch.max(1)) * 2 + col * 2 / cw.max(1);
                let (cu, cv) = [(90u8, 240u8), (240, 110), (54, 34), (160, 160)][q.min(3)];
                u[row * cw + col] = cu;
                v[row * cw + col] = cv;
            }
        }
        // Frame counter, 4 digits, white on black.
        let text = format!("{:04}", f % 10_000);
        let (ox, oy) = (scale, scale);
        for (i, ch_) in text.bytes().enumerate() {
            let glyph = DIGITS[(ch_ - b'0') as usize];
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
        w.write_all(b"FRAME\n")?;
        w.write_all(&y)?;
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
        assert_eq!(len as usize, 43 + 20 * (6 + 160 * 120 * 3 / 2));
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
