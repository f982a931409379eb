// Helpers shared by both ends of a live view: ICE candidates in the wire shape
// of PROTOCOL.md, and a per-session queue that applies signaling in order.

// candidateData turns an RTCIceCandidate (null when gathering is complete)
// into the data of a webrtc.candidate message.
export function candidateData(c) {
  if (!c) return { candidate: '' };
  return { candidate: c.candidate, sdp_mid: c.sdpMid, sdp_mline_index: c.sdpMLineIndex };
}

// addCandidate applies a received webrtc.candidate. A candidate that no longer
// fits (an ICE restart raced it) is dropped: ICE recovers without it.
export async function addCandidate(pc, data) {
  const init = {
    candidate: data.candidate || '', // empty: end of candidates
    sdpMid: data.sdp_mid ?? null,
    sdpMLineIndex: data.sdp_mline_index ?? null,
  };
  try {
    await pc.addIceCandidate(init);
  } catch (err) {
    console.debug('ignored ICE candidate', err);
  }
}

// serial returns a function that runs async steps one after another, so an
// answer is applied before the candidates that follow it. A failing step is
// reported to onError and does not stop later ones.
export function serial(onError) {
  let tail = Promise.resolve();
  return (step) => {
    tail = tail.then(step).catch(onError);
    return tail;
  };
}
