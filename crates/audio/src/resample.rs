//! Sample-rate conversion to 48 kHz for AAC streams at another rate (44.1 kHz mostly): rubato's
//! synchronous FFT resampler, one AAC frame (1024 samples per channel) per call, with its delay
//! trimmed so output sample `m` lines up with input time `m / 48000` exactly, from the first
//! sample on. [`Resampler::flush`] drains what it still holds and starts over (at a timeline
//! jump).

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler as _};

use crate::AudioError;
use crate::aacenc_sys::AAC_FRAME;

/// The output rate: Opus and WebRTC's clock.
pub const OUTPUT_RATE: u32 = 48_000;

/// A resampler from one AAC rate to 48 kHz.
pub struct Resampler {
    inner: Fft<f32>,
    rate_in: u32,
    channels: usize,
    /// Output frames still to drop at the start (the resampler's delay).
    skip: usize,
    /// Input frames taken since the start, and output frames given (after the skip).
    taken: u64,
    given: u64,
    scratch: Vec<f32>,
}

impl Resampler {
    /// A resampler from `rate_in` for `channels` interleaved channels.
    pub fn new(rate_in: u32, channels: usize) -> Result<Self, AudioError> {
        let inner = Fft::<f32>::new(rate_in as usize, OUTPUT_RATE as usize, AAC_FRAME, channels, FixedSync::Input)
            .map_err(|e| AudioError::Resample(e.to_string()))?;
        let skip = inner.output_delay();
        let scratch = vec![0.0; inner.output_frames_max() * channels];
        Ok(Resampler { inner, rate_in, channels, skip, taken: 0, given: 0, scratch })
    }

    /// Resamples one frame (exactly 1024 samples per channel, interleaved) and appends the
    /// 48 kHz samples it completes to `out`.
    pub fn push(&mut self, input: &[f32], out: &mut Vec<f32>) -> Result<(), AudioError> {
        self.taken += (input.len() / self.channels) as u64;
        self.process(input, out, usize::MAX)
    }

    /// Appends what the resampler still holds (the output for every input taken so far) and
    /// starts over, as if new.
    pub fn flush(&mut self, out: &mut Vec<f32>) -> Result<(), AudioError> {
        let owed = |me: &Self| (me.taken * u64::from(OUTPUT_RATE)).div_ceil(u64::from(me.rate_in)) - me.given;
        let silence = vec![0.0; AAC_FRAME * self.channels];
        while owed(self) > 0 {
            let limit = owed(self) as usize;
            self.process(&silence, out, limit)?;
        }
        self.inner.reset();
        self.skip = self.inner.output_delay();
        self.taken = 0;
        self.given = 0;
        Ok(())
    }

    fn process(&mut self, input: &[f32], out: &mut Vec<f32>, limit: usize) -> Result<(), AudioError> {
        let channels = self.channels;
        let frames_in = input.len() / channels;
        let input =
            InterleavedSlice::new(input, channels, frames_in).map_err(|e| AudioError::Resample(e.to_string()))?;
        let capacity = self.scratch.len() / channels;
        let mut output = InterleavedSlice::new_mut(&mut self.scratch[..], channels, capacity)
            .map_err(|e| AudioError::Resample(e.to_string()))?;
        let (_, produced) = self
            .inner
            .process_into_buffer(&input, &mut output, None)
            .map_err(|e| AudioError::Resample(e.to_string()))?;
        let dropped = produced.min(self.skip);
        self.skip -= dropped;
        let kept = (produced - dropped).min(limit);
        out.extend_from_slice(&self.scratch[dropped * channels..(dropped + kept) * channels]);
        self.given += kept as u64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 44.1 kHz → 48 kHz: the delay is trimmed (a click at input sample 4410, 100 ms, comes out
    /// at output sample 4800) and a flush gives exactly the owed samples.
    #[test]
    fn trims_delay_and_flushes_to_length() {
        let mut r = Resampler::new(44_100, 1).expect("resampler");
        let mut input = vec![0.0f32; AAC_FRAME * 8];
        input[4410] = 1.0;
        let mut out = Vec::new();
        for chunk in input.chunks(AAC_FRAME) {
            r.push(chunk, &mut out).expect("push");
        }
        r.flush(&mut out).expect("flush");
        assert_eq!(out.len(), (AAC_FRAME * 8 * 48_000).div_ceil(44_100));
        let peak = out.iter().enumerate().max_by(|a, b| a.1.abs().total_cmp(&b.1.abs())).expect("samples").0;
        assert!((4799..=4801).contains(&peak), "click at {peak}");
        // After a flush, the resampler starts over: same alignment again.
        let mut again = Vec::new();
        for chunk in input.chunks(AAC_FRAME) {
            r.push(chunk, &mut again).expect("push");
        }
        r.flush(&mut again).expect("flush");
        assert_eq!(again.len(), out.len());
    }
}
