// The service's behaviour (no inline script: the Content-Security-Policy allows only this origin's files).
(() => {
  // The report's timeline script turns a click on a recording into #rec-SHA: open that recording.
  const openRecording = () => {
    const m = location.hash.match(/^#rec-([0-9a-f]{64})$/);
    if (m) location.href = '/recordings/' + m[1];
  };
  window.addEventListener('hashchange', openRecording);
  // A keyframe thumbnail seeks the proxy to its time (proxy time = original time - offset).
  const player = document.getElementById('player');
  const strip = document.getElementById('keyframes');
  if (player && strip) {
    const offset = parseFloat(player.dataset.offset || '0') || 0;
    strip.addEventListener('click', ev => {
      const img = ev.target.closest('img[data-t]');
      if (!img) return;
      player.currentTime = Math.max(0, parseFloat(img.dataset.t) - offset);
      player.play();
    });
  }
})();
