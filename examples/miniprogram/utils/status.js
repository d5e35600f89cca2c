// The status line every example page shows: room state, publish and play states, who else is
// in the room. Kept in the page's data (roomState, error, users, publishState, playStates).
function showStatus(zg, page) {
  zg.on("roomStateUpdate", (roomID, state, errorCode) => {
    page.setData({ roomState: state, error: errorCode ? `room ${roomID}: ${errorCode}` : "" });
  });
  zg.on("roomUserUpdate", (roomID, updateType, userList) => {
    const ids = userList.map((u) => u.userID);
    const users = updateType === "ADD" ? page.data.users.concat(ids) : page.data.users.filter((u) => ids.indexOf(u) < 0);
    page.setData({ users });
  });
  zg.on("publisherStateUpdate", (result) => page.setData({ publishState: result.state }));
  zg.on("playerStateUpdate", (result) => page.setData({ [`playStates.${result.streamID}`]: result.state }));
}

module.exports = { showStatus };
