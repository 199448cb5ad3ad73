// Two sockets on 127.0.0.1: one answers, the other sends "ping" and prints the answer.
// Run it with `taro-udp run examples/js/echo_once.js`: it ends once both are closed.
const peer = wx.createUDPSocket()
peer.onMessage((res) => {
  peer.send({ address: res.remoteInfo.address, port: res.remoteInfo.port, message: 'pong' })
})
const peerPort = peer.bind()

const udp = wx.createUDPSocket()
udp.onMessage((res) => {
  console.log('received', new TextDecoder().decode(res.message), 'from port', res.remoteInfo.port)
  udp.close()
  peer.close()
})
udp.onClose(() => console.log('closed'))
udp.bind()
udp.send({ address: '127.0.0.1', port: peerPort, message: 'ping' })
