//! The AAC-LC encoder: libvo-aacenc (VisualOn, Apache-2.0; Debian's `libvo-aacenc-dev`) behind
//! a safe [`AacEncoder`]. This is the crate's only unsafe code: no maintained Rust binding of
//! libvo-aacenc exists on crates.io, and the permissive alternatives are not acceptable (FFmpeg's
//! libavcodec in Debian is GPL-built, FDK-AAC is non-free). The binding is written by hand from
//! `/usr/include/vo-aacenc/{voAAC.h,voAudio.h,voType.h,voMem.h,cmnMemory.h}` and covers only what
//! the encoder needs: get the API table, init with the library's own memory operator, set the
//! parameters, and encode one 1024-sample frame per call.
//!
//! Lifetimes the C side relies on (see `aacenc.c` in vo-aacenc): the handle keeps a pointer to
//! the memory-operator table passed at init (so it lives in a `Box` owned by the encoder), and
//! `SetInputData` keeps a pointer to the caller's PCM until the next `GetOutputData` (so both
//! are called within [`AacEncoder::encode`], on a slice borrowed for that call, and the encoder
//! always receives exactly one whole frame, which `GetOutputData` consumes entirely).
#![deny(unsafe_op_in_unsafe_fn)]

use std::ffi::{c_int, c_long, c_short, c_uchar, c_ulong, c_void};
use std::ptr;

use crate::AudioError;

/// Samples per channel in one AAC-LC frame.
pub const AAC_FRAME: usize = 1024;

// voType.h: VO_U32 is `unsigned long`, VO_S32 `signed long` (64-bit on LP64 Linux), VO_S64 `long long`.
type VoU32 = c_ulong;
type VoS32 = c_long;
type VoHandle = *mut c_void;

const VO_ERR_NONE: VoU32 = 0;
const VO_ERR_INPUT_BUFFER_SMALL: VoU32 = 0x8000_0005;
/// `VO_AUDIO_CodingAAC` in voAudio.h's `VO_AUDIO_CODINGTYPE` (Unused, PCM, ADPCM, AMRNB, AMRWB,
/// AMRWBP, QCELP13, EVRC, AAC).
const VO_AUDIO_CODING_AAC: c_int = 8;
/// `VO_IMF_USERMEMOPERATOR`: `memData` points to a `VO_MEM_OPERATOR`.
const VO_IMF_USERMEMOPERATOR: c_int = 0;
/// `VO_PID_AAC_ENCPARAM` (voAAC.h): set an `AACENC_PARAM`.
const VO_PID_AAC_ENCPARAM: VoS32 = 0x4221_1000 | 0x0040;
/// The output buffer the encoder asks for: 6144 bits per channel, for 2 channels, with room.
const OUT_CAPACITY: usize = 2 * 6144 / 8 + 256;

#[repr(C)]
struct VoCodecBuffer {
    buffer: *mut c_uchar,
    length: VoU32,
    time: i64,
}

#[repr(C)]
struct VoAudioFormat {
    sample_rate: VoS32,
    channels: VoS32,
    sample_bits: VoS32,
}

#[repr(C)]
struct VoAudioOutputInfo {
    format: VoAudioFormat,
    input_used: VoU32,
    reserved: VoU32,
}

#[repr(C)]
struct AacEncParam {
    sample_rate: c_int,
    bit_rate: c_int,
    n_channels: c_short,
    adts_used: c_short,
}

#[repr(C)]
struct VoMemInfo {
    size: VoS32,
    flag: VoS32,
    v_buffer: *mut c_void,
    p_buffer: *mut c_void,
}

#[repr(C)]
struct VoMemOperator {
    alloc: Option<unsafe extern "C" fn(VoS32, *mut VoMemInfo) -> VoU32>,
    free: Option<unsafe extern "C" fn(VoS32, *mut c_void) -> VoU32>,
    set: Option<unsafe extern "C" fn(VoS32, *mut c_void, c_uchar, VoU32) -> VoU32>,
    copy: Option<unsafe extern "C" fn(VoS32, *mut c_void, *mut c_void, VoU32) -> VoU32>,
    check: Option<unsafe extern "C" fn(VoS32, *mut c_void, VoU32) -> VoU32>,
    compare: Option<unsafe extern "C" fn(VoS32, *mut c_void, *mut c_void, VoU32) -> VoS32>,
    move_: Option<unsafe extern "C" fn(VoS32, *mut c_void, *mut c_void, VoU32) -> VoU32>,
}

#[repr(C)]
struct VoCodecInitUserData {
    memflag: c_int,
    mem_data: *mut c_void,
    reserved1: VoU32,
    reserved2: VoU32,
}

#[repr(C)]
#[derive(Default)]
struct VoAudioCodecApi {
    init: Option<unsafe extern "C" fn(*mut VoHandle, c_int, *mut VoCodecInitUserData) -> VoU32>,
    set_input_data: Option<unsafe extern "C" fn(VoHandle, *mut VoCodecBuffer) -> VoU32>,
    get_output_data: Option<unsafe extern "C" fn(VoHandle, *mut VoCodecBuffer, *mut VoAudioOutputInfo) -> VoU32>,
    set_param: Option<unsafe extern "C" fn(VoHandle, VoS32, *mut c_void) -> VoU32>,
    get_param: Option<unsafe extern "C" fn(VoHandle, VoS32, *mut c_void) -> VoU32>,
    uninit: Option<unsafe extern "C" fn(VoHandle) -> VoU32>,
}

#[link(name = "vo-aacenc")]
unsafe extern "C" {
    fn voGetAACEncAPI(api: *mut VoAudioCodecApi) -> VoS32;
    fn cmnMemAlloc(id: VoS32, info: *mut VoMemInfo) -> VoU32;
    fn cmnMemFree(id: VoS32, buffer: *mut c_void) -> VoU32;
    fn cmnMemSet(id: VoS32, buffer: *mut c_void, value: c_uchar, size: VoU32) -> VoU32;
    fn cmnMemCopy(id: VoS32, dest: *mut c_void, source: *mut c_void, size: VoU32) -> VoU32;
    fn cmnMemCheck(id: VoS32, buffer: *mut c_void, size: VoU32) -> VoU32;
    fn cmnMemCompare(id: VoS32, a: *mut c_void, b: *mut c_void, size: VoU32) -> VoS32;
    fn cmnMemMove(id: VoS32, dest: *mut c_void, source: *mut c_void, size: VoU32) -> VoU32;
}

/// One libvo-aacenc encoder: 16-bit interleaved PCM in, raw AAC-LC frames (no ADTS) out, one
/// frame per 1024 samples per channel.
pub struct AacEncoder {
    api: VoAudioCodecApi,
    handle: VoHandle,
    /// The handle points into this table until `Uninit`: boxed so it never moves.
    _memory: Box<VoMemOperator>,
    channels: usize,
    out: Vec<u8>,
}

// SAFETY: the handle is owned exclusively by this value (no other copy of the pointer exists)
// and libvo-aacenc keeps no thread-local or global state per handle, so moving the encoder to
// another thread is sound. It is not `Sync`: every call takes `&mut self`.
unsafe impl Send for AacEncoder {}

impl AacEncoder {
    /// Starts an encoder at `sample_rate` (an AAC table rate) for 1 or 2 channels at `bitrate`
    /// bit/s (libvo-aacenc clamps a bitrate it cannot do to its default for the rate).
    pub fn new(sample_rate: u32, channels: usize, bitrate: u32) -> Result<Self, AudioError> {
        if !(1..=2).contains(&channels) {
            return Err(AudioError::Config(format!("AAC encoder: {channels} channels (1 or 2)")));
        }
        let mut api = VoAudioCodecApi::default();
        // SAFETY: `api` is a valid, writable table with the C layout of VO_AUDIO_CODECAPI; the
        // function only stores six function pointers into it.
        let got = unsafe { voGetAACEncAPI(&mut api) };
        let (Some(init), Some(set_param)) = (api.init, api.set_param) else {
            return Err(AudioError::AacEncode(format!("voGetAACEncAPI returned {got:#x} and no API")));
        };
        if api.set_input_data.is_none() || api.get_output_data.is_none() || api.uninit.is_none() {
            return Err(AudioError::AacEncode("voGetAACEncAPI returned an incomplete API".into()));
        }
        let mut memory = Box::new(VoMemOperator {
            alloc: Some(cmnMemAlloc),
            free: Some(cmnMemFree),
            set: Some(cmnMemSet),
            copy: Some(cmnMemCopy),
            check: Some(cmnMemCheck),
            compare: Some(cmnMemCompare),
            move_: Some(cmnMemMove),
        });
        let mut user = VoCodecInitUserData {
            memflag: VO_IMF_USERMEMOPERATOR,
            mem_data: (&mut *memory as *mut VoMemOperator).cast(),
            reserved1: 0,
            reserved2: 0,
        };
        let mut handle: VoHandle = ptr::null_mut();
        // SAFETY: `handle` and `user` are valid for writes/reads during the call; `user.mem_data`
        // points to the boxed operator table, which the library keeps and uses until `uninit`:
        // the box is stored in the returned encoder and dropped only after `uninit` (see Drop).
        let rc = unsafe { init(&mut handle, VO_AUDIO_CODING_AAC, &mut user) };
        if rc != VO_ERR_NONE || handle.is_null() {
            return Err(AudioError::AacEncode(format!("init failed ({rc:#x})")));
        }
        let encoder = AacEncoder { api, handle, _memory: memory, channels, out: vec![0; OUT_CAPACITY] };
        let mut param = AacEncParam {
            sample_rate: c_int::try_from(sample_rate)
                .map_err(|_| AudioError::Config(format!("AAC encoder: sample rate {sample_rate}")))?,
            bit_rate: c_int::try_from(bitrate).map_err(|_| AudioError::Config(format!("AAC bitrate {bitrate}")))?,
            // 1 or 2, checked above.
            n_channels: channels as c_short,
            adts_used: 0,
        };
        // SAFETY: the handle is live (init succeeded); `param` has AACENC_PARAM's layout and is
        // only read during the call.
        let rc = unsafe { set_param(encoder.handle, VO_PID_AAC_ENCPARAM, (&mut param as *mut AacEncParam).cast()) };
        if rc != VO_ERR_NONE {
            // `encoder` drops here, which uninits the handle.
            return Err(AudioError::AacEncode(format!(
                "parameters refused ({rc:#x}): {sample_rate} Hz, {channels} channels, {bitrate} bit/s"
            )));
        }
        Ok(encoder)
    }

    /// Channels per frame.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Encodes one frame: exactly 1024 samples per channel, interleaved. Returns the raw AAC
    /// frame (the encoder's output lags its input by its own delay; see `opus_to_aac`).
    pub fn encode(&mut self, pcm: &[i16]) -> Result<Vec<u8>, AudioError> {
        if pcm.len() != AAC_FRAME * self.channels {
            return Err(AudioError::AacEncode(format!(
                "{} samples given, one frame is {}",
                pcm.len(),
                AAC_FRAME * self.channels
            )));
        }
        let (Some(set_input), Some(get_output)) = (self.api.set_input_data, self.api.get_output_data) else {
            unreachable!("checked in new()");
        };
        let mut input = VoCodecBuffer {
            // The library reads through this pointer only (it is `short *` in C, never written).
            buffer: pcm.as_ptr().cast_mut().cast(),
            length: (pcm.len() * 2) as VoU32,
            time: 0,
        };
        let mut output = VoCodecBuffer { buffer: self.out.as_mut_ptr(), length: self.out.len() as VoU32, time: 0 };
        let mut info = VoAudioOutputInfo {
            format: VoAudioFormat { sample_rate: 0, channels: 0, sample_bits: 0 },
            input_used: 0,
            reserved: 0,
        };
        // SAFETY: the handle is live; `input` points to `pcm`, valid for reads of `length` bytes
        // for this whole function, and the library keeps that pointer only until the
        // `get_output` call just below, which consumes the whole frame (exactly one frame given).
        let rc = unsafe { set_input(self.handle, &mut input) };
        if rc != VO_ERR_NONE {
            return Err(AudioError::AacEncode(format!("input refused ({rc:#x})")));
        }
        // SAFETY: the handle is live; `output` points to `self.out`, valid for writes of
        // `length` bytes (more than the 768 bytes per channel the library requires and checks);
        // `info` is a valid writable struct; `pcm` is still borrowed (see above).
        let rc = unsafe { get_output(self.handle, &mut output, &mut info) };
        match rc {
            VO_ERR_NONE => {}
            VO_ERR_INPUT_BUFFER_SMALL => return Err(AudioError::AacEncode("the encoder wanted more input".into())),
            rc => return Err(AudioError::AacEncode(format!("encode failed ({rc:#x})"))),
        }
        let written = usize::try_from(output.length).unwrap_or(usize::MAX);
        if written > self.out.len() {
            return Err(AudioError::AacEncode(format!("the encoder reported {written} bytes")));
        }
        Ok(self.out[..written].to_vec())
    }
}

impl Drop for AacEncoder {
    fn drop(&mut self) {
        if let Some(uninit) = self.api.uninit {
            // SAFETY: the handle came from a successful init and is uninitialised exactly once,
            // here; the memory-operator box it uses is dropped after this (field drop order).
            unsafe { uninit(self.handle) };
        }
    }
}
