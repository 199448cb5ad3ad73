const DISCOVERY_PORT = 37020
let discoveries = 0

// Broadcast up to `attempts` probes, `interval` ms apart; call done(found) once
// every expected device answered, or `interval` ms after the last probe.
function discover(done, { port = DISCOVERY_PORT, attempts = 5, interval = 200,
                          expected, address = '255.255.255.255' } = {}) {
  const udp = wx.createUDPSocket()
  const nonce = `${Date.now()}-${++discoveries}`
  const found = {}
  let round = 0
  let timer = 0
  const finish = () => {
    clearTimeout(timer)
    udp.close()
    done(found)
  }
  udp.onMessage((res) => {
    let reply
    try {
      reply = JSON.parse(new TextDecoder().decode(res.message))
    } catch (err) {
      return  // not JSON: somebody else's datagram
    }
    if (reply.type !== 'announce' || reply.nonce !== nonce || reply.id in found) return
    found[reply.id] = { name: reply.name, address: res.remoteInfo.address,
                        port: res.remoteInfo.port }
    if (expected !== undefined && Object.keys(found).length >= expected) finish()
  })
  udp.bind()
  const probe = () => {
    udp.send({ address, port, setBroadcast: true,
               message: JSON.stringify({ type: 'discover', nonce, round }) })
    round += 1
    timer = setTimeout(round < attempts ? probe : finish, interval)
  }
  probe()
}
