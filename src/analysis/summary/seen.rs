//! What people saw, summarised from `video_quality.csv` (docs/quality.md): per run, conference and
//! bridge, over the steady window like the other client figures, and per time bucket for the chart.
//!
//! The file has one row per received stream and stats interval, each with its own percentiles. Over
//! many rows: delay p50 is the median of the rows' p50, delay p95 the 95th percentile of the rows' p95
//! (the level 95 % of stream-intervals kept their own p95 under); PSNR and SSIM p5 are the 5th
//! percentiles of the rows' p5, their p50 the median of the rows' p50. Freeze share is frozen time /
//! watched time, and freezes per minute count freezes per minute watched, both summed over streams.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::Series;
use crate::results::VideoQualityRow;
use crate::schedule::ParticipantId;
use crate::stats::percentile;

/// What people saw of some received video streams.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct VideoFigures {
    /// Received streams (receiver, sender) with rows.
    pub streams: usize,
    /// Rows (stream-intervals).
    pub rows: usize,
    /// Watched time, summed over streams (s).
    pub observed_s: f64,
    /// End-to-end video delay (capture to decoded frame), median (ms).
    pub video_delay_ms_p50: Option<f64>,
    /// End-to-end video delay, 95th percentile (ms).
    pub video_delay_ms_p95: Option<f64>,
    /// The largest clock uncertainty of the delays (ms).
    pub video_delay_bound_ms: Option<f64>,
    /// Frozen time / watched time (0..1).
    pub freeze_share: Option<f64>,
    /// Freezes per minute watched.
    pub freezes_per_minute: Option<f64>,
    /// PSNR of luma, 5th percentile (dB).
    pub video_psnr_db_p5: Option<f64>,
    /// PSNR of luma, median (dB).
    pub video_psnr_db_p50: Option<f64>,
    /// SSIM of luma, 5th percentile (0..1).
    pub video_ssim_p5: Option<f64>,
    /// SSIM of luma, median (0..1).
    pub video_ssim_p50: Option<f64>,
}

/// One conference's or bridge's figures.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct VideoGroup {
    /// Conference index or bridge name.
    pub name: String,
    /// Its figures.
    pub figures: VideoFigures,
}

/// The summary's "What people saw": `summary.json video`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Video {
    /// Every received stream.
    pub run: VideoFigures,
    /// Per conference of the receivers.
    pub conferences: Vec<VideoGroup>,
    /// Per bridge the receivers' media came through.
    pub bridges: Vec<VideoGroup>,
}

/// Accumulates rows into [`VideoFigures`].
#[derive(Debug, Default)]
struct Acc {
    streams: BTreeSet<(ParticipantId, String)>,
    rows: usize,
    observed_ms: f64,
    freeze_ms: f64,
    freezes: u64,
    bound: Option<f64>,
    delay_p50: Vec<f64>,
    delay_p95: Vec<f64>,
    psnr_p5: Vec<f64>,
    psnr_p50: Vec<f64>,
    ssim_p5: Vec<f64>,
    ssim_p50: Vec<f64>,
}

impl Acc {
    fn push(&mut self, r: &VideoQualityRow) {
        self.streams.insert((r.participant, r.peer.clone()));
        self.rows += 1;
        self.observed_ms += r.observed_ms.max(0.0);
        self.freeze_ms += r.freeze_ms.max(0.0);
        self.freezes += u64::from(r.freeze_count);
        if let Some(b) = r.delay_bound_ms {
            self.bound = Some(self.bound.map_or(b, |x| x.max(b)));
        }
        self.delay_p50.extend(r.delay_ms_p50);
        self.delay_p95.extend(r.delay_ms_p95);
        self.psnr_p5.extend(r.psnr_db_p5);
        self.psnr_p50.extend(r.psnr_db_p50);
        self.ssim_p5.extend(r.ssim_p5);
        self.ssim_p50.extend(r.ssim_p50);
    }

    fn freeze_share(&self) -> Option<f64> {
        (self.observed_ms > 0.0).then(|| (self.freeze_ms / self.observed_ms).clamp(0.0, 1.0))
    }

    fn figures(&mut self) -> VideoFigures {
        VideoFigures {
            streams: self.streams.len(),
            rows: self.rows,
            observed_s: (self.observed_ms / 100.0).round() / 10.0,
            video_delay_ms_p50: percentile(&mut self.delay_p50, 0.5),
            video_delay_ms_p95: percentile(&mut self.delay_p95, 0.95),
            video_delay_bound_ms: self.bound,
            freeze_share: self.freeze_share(),
            freezes_per_minute: (self.observed_ms > 0.0)
                .then(|| self.freezes as f64 / (self.observed_ms / 60_000.0)),
            video_psnr_db_p5: percentile(&mut self.psnr_p5, 0.05),
            video_psnr_db_p50: percentile(&mut self.psnr_p50, 0.5),
            video_ssim_p5: percentile(&mut self.ssim_p5, 0.05),
            video_ssim_p50: percentile(&mut self.ssim_p50, 0.5),
        }
    }
}

/// Streams `video_quality.csv` rows (after the participants) into [`Video`] and its chart series.
#[derive(Debug, Default)]
pub struct Seen {
    who: BTreeMap<ParticipantId, (u32, String)>,
    run: Acc,
    conferences: BTreeMap<u32, Acc>,
    bridges: BTreeMap<String, Acc>,
    buckets: BTreeMap<i64, Acc>,
}

impl Seen {
    /// A participant's conference and bridge (participants.csv).
    pub fn participant(&mut self, id: ParticipantId, conference: u32, bridge: &str) {
        self.who.insert(id, (conference, bridge.to_string()));
    }

    /// One row: `inside` the steady window, in chart bucket `bucket`.
    pub fn row(&mut self, r: &VideoQualityRow, inside: bool, bucket: i64) {
        self.buckets.entry(bucket).or_default().push(r);
        if !inside {
            return;
        }
        self.run.push(r);
        let (conference, bridge) = self
            .who
            .get(&r.participant)
            .cloned()
            .unwrap_or((r.participant.conference, String::new()));
        self.conferences.entry(conference).or_default().push(r);
        if !bridge.is_empty() {
            self.bridges.entry(bridge).or_default().push(r);
        }
    }

    /// The figures (`None` when the run wrote no rows), and per bucket of `bucket_s` seconds the
    /// delay p95 (ms) and freeze share (percent, printed).
    pub fn finish(mut self, bucket_s: f64) -> (Option<Video>, Series, Series) {
        let mut delay = Series::new();
        let mut frozen = Series::new();
        for (b, acc) in &mut self.buckets {
            let x = (*b as f64 + 0.5) * bucket_s;
            if let Some(d) = percentile(&mut acc.delay_p95, 0.95) {
                delay.push((x, d));
            }
            if let Some(f) = acc.freeze_share() {
                frozen.push((x, f * 100.0));
            }
        }
        if self.run.rows == 0 {
            return (None, delay, frozen);
        }
        let group = |(name, mut acc): (String, Acc)| VideoGroup {
            name,
            figures: acc.figures(),
        };
        let video = Video {
            run: self.run.figures(),
            conferences: (self.conferences.into_iter())
                .map(|(c, a)| group((c.to_string(), a)))
                .collect(),
            bridges: self.bridges.into_iter().map(group).collect(),
        };
        (Some(video), delay, frozen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(
        who: &str,
        peer: &str,
        delay: (f64, f64),
        frozen_ms: f64,
        psnr_p5: f64,
    ) -> VideoQualityRow {
        VideoQualityRow {
            participant: who.parse().unwrap(),
            peer: peer.into(),
            observed_ms: 5000.0,
            freeze_ms: frozen_ms,
            freeze_count: u32::from(frozen_ms > 0.0),
            delay_ms_p50: Some(delay.0),
            delay_ms_p95: Some(delay.1),
            delay_bound_ms: Some(2.0),
            psnr_db_p5: Some(psnr_p5),
            psnr_db_p50: Some(psnr_p5 + 5.0),
            ..Default::default()
        }
    }

    #[test]
    fn figures_per_run_conference_and_bridge() {
        let mut s = Seen::default();
        s.participant("c0p0".parse().unwrap(), 0, "janus");
        s.participant("c0p1".parse().unwrap(), 0, "janus");
        s.participant("c1p0".parse().unwrap(), 1, "other");
        s.row(&row("c0p0", "c0p1", (20.0, 30.0), 0.0, 40.0), true, 0);
        s.row(&row("c0p1", "c0p0", (22.0, 35.0), 500.0, 38.0), true, 0);
        s.row(&row("c0p0", "c0p1", (21.0, 31.0), 0.0, 41.0), true, 1);
        s.row(&row("c1p0", "c1p1", (60.0, 200.0), 2500.0, 20.0), true, 1);
        // Outside the window: charted only.
        s.row(&row("c1p0", "c1p1", (900.0, 900.0), 5000.0, 5.0), false, 2);
        let (v, delay, frozen) = s.finish(5.0);
        let v = v.unwrap();
        let r = &v.run;
        assert_eq!((r.streams, r.rows, r.observed_s), (3, 4, 20.0));
        assert_eq!(r.video_delay_ms_p50, Some(21.0));
        assert_eq!(r.video_delay_ms_p95, Some(200.0));
        assert_eq!(r.freeze_share, Some(3000.0 / 20_000.0));
        assert_eq!(r.freezes_per_minute, Some(2.0 / (20.0 / 60.0)));
        assert_eq!(
            (r.video_psnr_db_p5, r.video_psnr_db_p50),
            (Some(20.0), Some(43.0))
        );
        assert_eq!(r.video_delay_bound_ms, Some(2.0));
        let names: Vec<&str> = v.conferences.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["0", "1"]);
        assert_eq!(v.conferences[0].figures.video_delay_ms_p95, Some(35.0));
        assert_eq!(v.bridges[1].name, "other");
        assert_eq!(v.bridges[1].figures.freeze_share, Some(0.5));
        assert_eq!(delay, [(2.5, 35.0), (7.5, 200.0), (12.5, 900.0)]);
        assert_eq!(frozen[0], (2.5, 5.0));
        assert_eq!(frozen[2], (12.5, 100.0));
        assert!(
            Seen::default().finish(5.0).0.is_none(),
            "no rows, no figures"
        );
    }
}
