/** Window/level presets (width, center in the modality's output units, HU for CT). */

export interface VoiPreset {
  id: string;
  label: string;
  windowWidth: number;
  windowCenter: number;
  /** Keyboard shortcut. */
  key?: string;
}

const CT: VoiPreset[] = [
  { id: 'brain', label: 'Brain', windowWidth: 80, windowCenter: 40, key: '1' },
  { id: 'lung', label: 'Lung', windowWidth: 1500, windowCenter: -600, key: '2' },
  { id: 'bone', label: 'Bone', windowWidth: 1800, windowCenter: 400, key: '3' },
  { id: 'abdomen', label: 'Abdomen', windowWidth: 400, windowCenter: 40, key: '4' },
  { id: 'mediastinum', label: 'Mediastinum', windowWidth: 350, windowCenter: 50, key: '5' },
  { id: 'stroke', label: 'Stroke', windowWidth: 40, windowCenter: 40, key: '6' },
];

/** Presets offered for a modality; "Default" (the image's own VOI) is always added first. */
export function presetsFor(modality: string): VoiPreset[] {
  switch (modality) {
    case 'CT':
      return CT;
    default:
      return [];
  }
}
