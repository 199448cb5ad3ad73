// The device's line protocol: one JSON object per datagram.
function encode(command, seq) {
  return JSON.stringify({ cmd: command, seq })
}

function decode(message) {
  try {
    return JSON.parse(new TextDecoder().decode(message))
  } catch (err) {
    return null
  }
}

module.exports = { encode, decode }
