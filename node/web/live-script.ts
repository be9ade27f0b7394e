/**
 * The home page's only script, served as a file from the node (the page's policy allows no inline
 * code): it refreshes the live figures from `home/live.json` without a reload and wires the copy
 * buttons. The page works without it: the figures are rendered on the server, the buttons hidden.
 */
const LIVE_REFRESH_MS = 5000

export const LIVE_SCRIPT = `'use strict'
;(function () {
  var fields = document.querySelectorAll('[data-live]')
  var note = document.getElementById('live-note')
  function refresh () {
    fetch('home/live.json', { cache: 'no-store' }).then(function (res) {
      if (!res.ok) throw new Error('HTTP ' + res.status)
      return res.json()
    }).then(function (live) {
      fields.forEach(function (el) {
        var value = live[el.dataset.live]
        if (value !== undefined) el.textContent = String(value)
      })
      if (note) note.textContent = 'updated ' + new Date().toLocaleTimeString()
    }).catch(function (err) {
      if (note) note.textContent = 'not updated: ' + err.message
    })
  }
  setInterval(refresh, ${LIVE_REFRESH_MS})
  document.querySelectorAll('button[data-copy]').forEach(function (button) {
    var source = document.getElementById(button.dataset.copy)
    if (!source || !navigator.clipboard) return
    button.hidden = false
    button.addEventListener('click', function () {
      navigator.clipboard.writeText(source.textContent).then(function () { button.textContent = 'copied' }, function () { button.textContent = 'copy failed' })
    })
  })
})()
`
