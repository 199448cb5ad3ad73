// WeChat's UDPSocket.connect / write sample (developers.weixin.qq.com/miniprogram/dev/api/network/udp/).
// The sample's peer, 192.168.193.2:8848, is a machine on the author's LAN, and
// `taro-udp run` sends for real: this copy connects to this machine (127.0.0.1) unless
// SEND_TO_DOCS_PEER is set to true. It closes its socket once the write is done, so the
// script ends by itself.
const SEND_TO_DOCS_PEER = false
const peerAddress = SEND_TO_DOCS_PEER ? '192.168.193.2' : '127.0.0.1'

const udp = wx.createUDPSocket()
udp.bind()
udp.connect({
  address: peerAddress,
  port: 8848,
})
udp.write({
  address: peerAddress,
  port: 8848,
  message: 'hello, how are you',
  complete: () => udp.close()
})
