// The message box of the video call pages: broadcast messages to everyone in the room, both
// ways (a browser on the Web example, examples/web, is in the same conversation). Kept in the
// page's data: `messages` ([{from, text}], oldest first; "me" for this user's) and `draft`.
function showMessages(zg, page) {
  zg.on("IMRecvBroadcastMessage", (roomID, messageList) => {
    const received = messageList.map((m) => ({ from: m.fromUser.userID, text: m.message }));
    page.setData({ messages: page.data.messages.concat(received) });
  });
}

/** Sends the page's draft to its room; a refusal's code shows in the page's error line. */
async function sendDraft(zg, page) {
  const text = page.data.draft.trim();
  if (!zg || !text) return;
  const { errorCode, extendedData } = await zg.sendBroadcastMessage(page.data.roomID, text);
  if (errorCode) {
    page.setData({ error: `message not sent: ${errorCode} ${extendedData || ""}` });
  } else {
    page.setData({ draft: "", messages: page.data.messages.concat([{ from: "me", text }]) });
  }
}

module.exports = { showMessages, sendDraft };
