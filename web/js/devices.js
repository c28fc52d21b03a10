// Microphone and speaker selection. Speakers can be chosen where the browser lets a page route
// an AudioContext (AudioContext.setSinkId: Chromium 110+); elsewhere the selector stays hidden
// and the system default plays. Choices are remembered per browser (localStorage).

const MIC_KEY = "focalcall.mic";
const SPEAKER_KEY = "focalcall.speaker";

export const rememberedMicrophone = () => localStorage.getItem(MIC_KEY) || undefined;
export const forgetMicrophone = () => localStorage.removeItem(MIC_KEY);

/** Whether this browser can send an AudioContext to a chosen output device. */
export function canChooseSpeaker(context) {
  return typeof context?.setSinkId === "function";
}

async function devicesOfKind(kind) {
  return (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === kind);
}

function fill(select, devices, current, fallbackName) {
  select.replaceChildren(...devices.map((d, i) => {
    const option = document.createElement("option");
    option.value = d.deviceId;
    option.textContent = d.label || `${fallbackName} ${i + 1}`;
    option.selected = d.deviceId === current;
    return option;
  }));
}

export class DevicePicker {
  /** `engine`: the AudioEngine (useMicrophone, context); `onError(message)`. */
  constructor({ engine, micSelect, speakerSelect, onError }) {
    Object.assign(this, { engine, micSelect, speakerSelect, onError });
    micSelect.addEventListener("change", () => this.chooseMicrophone(micSelect.value));
    speakerSelect.addEventListener("change", () => this.chooseSpeaker(speakerSelect.value));
    navigator.mediaDevices.addEventListener?.("devicechange", () => this.refresh());
  }

  /** List the devices again (after joining: labels are known once the microphone is granted). */
  async refresh(micId = this.micSelect.value) {
    fill(this.micSelect, await devicesOfKind("audioinput"), micId, "Microphone");
    const speakerField = this.speakerSelect.closest("label") || this.speakerSelect;
    if (!canChooseSpeaker(this.engine.context)) {
      speakerField.hidden = true;
      return;
    }
    const speakers = [{ deviceId: "", label: "System default" },
      ...(await devicesOfKind("audiooutput")).filter((d) => d.deviceId !== "default" && d.deviceId !== "")];
    fill(this.speakerSelect, speakers, this.engine.context.sinkId || "", "Speaker");
    speakerField.hidden = false;
  }

  async chooseMicrophone(deviceId) {
    try {
      const id = await this.engine.useMicrophone(deviceId);
      localStorage.setItem(MIC_KEY, id);
    } catch (err) {
      this.onError(err.message);
    }
  }

  async chooseSpeaker(deviceId) {
    try {
      await this.engine.context.setSinkId(deviceId);
      localStorage.setItem(SPEAKER_KEY, deviceId);
    } catch (err) {
      this.onError(`Could not switch the speaker: ${err.message || err.name}`);
      this.speakerSelect.value = this.engine.context.sinkId || "";
    }
  }

  /** Route to the remembered speaker, if it is still there. */
  async restoreSpeaker() {
    const id = localStorage.getItem(SPEAKER_KEY);
    if (!id || !canChooseSpeaker(this.engine.context)) return;
    if ((await devicesOfKind("audiooutput")).some((d) => d.deviceId === id)) {
      await this.engine.context.setSinkId(id).catch(() => localStorage.removeItem(SPEAKER_KEY));
    }
  }
}
