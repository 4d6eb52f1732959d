// Mute or unmute this participant's microphone through the page's own mute (the speaker model):
// arguments[0] is true to mute. Returns whether the page had a mute to apply.
return !!(window.__lt && typeof window.__lt.setAudioMuted === 'function' &&
  window.__lt.setAudioMuted(arguments[0]));
