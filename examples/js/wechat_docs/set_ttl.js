const udp = wx.createUDPSocket()
udp.onListening(function () {
  udp.setTTL(64)
})
udp.bind()
