// Session Manager preferences: the SSM-SessionManagerRunShell document's
// inputs (idle timeout, maximum duration, Run As, shell profile, recording
// cap), read with ssm:GetDocument and saved with ssm:UpdateDocument, so the
// user's policies decide who may see and change them. The server validates;
// its refusal shows under the form in the CLI's words.
import * as api from './api.js';
import { $ } from './dom.js';

const DOC = 'SSM-SessionManagerRunShell';
// The document as last read: its other keys are kept on save.
let content = {};

function status(s) {
  $('#prefs-status').textContent = s;
}

function fail(e) {
  const box = $('#prefs-error');
  box.hidden = !e;
  box.textContent = e ? api.describe(e) : '';
}

function fill(inputs) {
  const f = $('#prefs');
  f.idleSessionTimeout.value = inputs.idleSessionTimeout ?? '';
  f.maxSessionDuration.value = inputs.maxSessionDuration ?? '';
  f.runAsEnabled.checked = Boolean(inputs.runAsEnabled);
  f.runAsDefaultUser.value = inputs.runAsDefaultUser ?? '';
  f.shellProfile.value = (inputs.shellProfile && inputs.shellProfile.linux) || '';
  f.recordingEnabled.checked = inputs.recordingEnabled !== false;
  f.maxRecordingSizeMB.value = inputs.maxRecordingSizeMB ?? '';
  f.recordingMinFreeSpaceMB.value = inputs.recordingMinFreeSpaceMB ?? '';
  f.recordingCapAction.value = inputs.recordingCapAction || 'continue';
}

function read() {
  const f = $('#prefs');
  return {
    ...(content.inputs || {}),
    idleSessionTimeout: f.idleSessionTimeout.value.trim(),
    maxSessionDuration: f.maxSessionDuration.value.trim(),
    runAsEnabled: f.runAsEnabled.checked,
    runAsDefaultUser: f.runAsDefaultUser.value.trim(),
    shellProfile: { ...((content.inputs && content.inputs.shellProfile) || {}), linux: f.shellProfile.value },
    recordingEnabled: f.recordingEnabled.checked,
    maxRecordingSizeMB: f.maxRecordingSizeMB.value.trim(),
    recordingMinFreeSpaceMB: f.recordingMinFreeSpaceMB.value.trim(),
    recordingCapAction: f.recordingCapAction.value,
  };
}

function loaded(doc) {
  content = JSON.parse(doc.Content || '{}');
  fill(content.inputs || {});
}

async function save(ev) {
  ev.preventDefault();
  fail(null);
  $('#prefs-save').disabled = true;
  status('Saving…');
  try {
    const body = { ...content, inputs: read() };
    loaded(await api.call('ssm', 'UpdateDocument', { Name: DOC, Content: JSON.stringify(body) }));
    status(`Saved at ${new Date().toLocaleTimeString()}`);
  } catch (e) {
    status('Not saved');
    fail(e);
  } finally {
    $('#prefs-save').disabled = false;
  }
}

export async function show() {
  const f = $('#prefs');
  f.onsubmit = save;
  $('#prefs-reset').onclick = () => {
    fail(null);
    fill(content.inputs || {});
    status('');
  };
  fail(null);
  status('Loading…');
  try {
    loaded(await api.call('ssm', 'GetDocument', { Name: DOC }));
    status('');
  } catch (e) {
    status('');
    fail(e);
  }
}
