// A device page: open it with ?address=...&port=...; "ping" asks the device for its
// state, retrying every 300 ms until it answers; every answer lands in data by setData.
const { encode, decode } = require('../../utils/protocol')

Page({
  data: {
    status: 'idle',
    port: 0,
    replies: [],
    sent: 0,
  },

  onLoad(query) {
    this.device = { address: query.address, port: Number(query.port) }
    this.seq = 0
    this.answered = 0  // the last seq answered: a duplicated reply is not a second one
    this.retry = 0
    this.udp = wx.createUDPSocket()
    this.udp.onMessage((res) => {
      const reply = decode(res.message)
      if (reply === null || reply.seq !== this.seq) return  // late or foreign
      if (this.answered === reply.seq) return  // the network duplicated it
      this.answered = reply.seq
      clearTimeout(this.retry)
      getApp().globalData.lastDevice = this.device
      this.setData({
        status: 'online',
        replies: this.data.replies.concat(reply),
        'last.state': reply.state,
      })
    })
    this.udp.onError((err) => this.setData({ status: 'error', error: err.errMsg }))
    const port = this.udp.bind()
    this.setData({ port, status: port === 0 ? 'error' : 'ready' })
  },

  onTapPing(e) {
    this.seq += 1
    const send = () => {
      this.udp.send({
        address: this.device.address,
        port: this.device.port,
        message: encode(e.currentTarget.dataset.command || 'state', this.seq),
        success: () => this.setData({ sent: this.data.sent + 1, status: 'waiting' }),
      })
      this.retry = setTimeout(send, 300)
    }
    send()
  },

  onUnload() {
    clearTimeout(this.retry)
    this.udp.close()
  },
})
