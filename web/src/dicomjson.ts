/**
 * Readers for the DICOM JSON model (PS3.18 Annex F): attributes keyed by eight hex digits,
 * each with a VR and a Value array; person names are objects with an Alphabetic group.
 */

export interface DicomAttribute {
  vr: string;
  Value?: unknown[];
  BulkDataURI?: string;
  InlineBinary?: string;
}

export type DicomJson = Record<string, DicomAttribute>;

/** Tags used by the front end, by keyword (PS3.6). */
export const Tag = {
  SpecificCharacterSet: '00080005',
  StudyDate: '00080020',
  StudyTime: '00080030',
  SeriesDate: '00080021',
  AccessionNumber: '00080050',
  Modality: '00080060',
  ModalitiesInStudy: '00080061',
  ReferringPhysicianName: '00080090',
  StudyDescription: '00081030',
  SeriesDescription: '0008103E',
  SOPClassUID: '00080016',
  SOPInstanceUID: '00080018',
  PatientName: '00100010',
  PatientID: '00100020',
  PatientBirthDate: '00100030',
  PatientSex: '00100040',
  StudyInstanceUID: '0020000D',
  SeriesInstanceUID: '0020000E',
  StudyID: '00200010',
  SeriesNumber: '00200011',
  InstanceNumber: '00200013',
  PatientOrientation: '00200020',
  ImagePositionPatient: '00200032',
  ImageOrientationPatient: '00200037',
  NumberOfStudyRelatedSeries: '00201206',
  NumberOfStudyRelatedInstances: '00201208',
  NumberOfSeriesRelatedInstances: '00201209',
  NumberOfFrames: '00280008',
  Rows: '00280010',
  Columns: '00280011',
  PixelSpacing: '00280030',
  FrameTime: '00181063',
  WindowCenter: '00281050',
  WindowWidth: '00281051',
  SliceThickness: '00180050',
} as const;

export function values(ds: DicomJson | undefined, tag: string): unknown[] {
  const value = ds?.[tag]?.Value;
  return Array.isArray(value) ? value : [];
}

/** First value as a string; person names are rendered from their Alphabetic group. */
export function str(ds: DicomJson | undefined, tag: string): string {
  const first = values(ds, tag)[0];
  if (first === undefined || first === null) return '';
  if (typeof first === 'object') return personName(first as Record<string, unknown>);
  return String(first);
}

/** All values joined with a backslash-free separator, for multi-valued strings. */
export function strs(ds: DicomJson | undefined, tag: string, sep = ', '): string {
  return values(ds, tag)
    .map((v) => (typeof v === 'object' && v !== null ? personName(v as Record<string, unknown>) : String(v)))
    .join(sep);
}

export function num(ds: DicomJson | undefined, tag: string, index = 0): number | undefined {
  const v = values(ds, tag)[index];
  if (v === undefined || v === null || v === '') return undefined;
  const n = typeof v === 'number' ? v : Number(v);
  return Number.isFinite(n) ? n : undefined;
}

export function nums(ds: DicomJson | undefined, tag: string): number[] {
  return values(ds, tag)
    .map((v) => (typeof v === 'number' ? v : Number(v)))
    .filter((n) => Number.isFinite(n));
}

/** PN in DICOM JSON: {"Alphabetic": "Doe^John"} (PS3.18 F.2.2); shown as "Doe, John". */
function personName(pn: Record<string, unknown>): string {
  const alphabetic = pn.Alphabetic ?? pn.Ideographic ?? pn.Phonetic ?? '';
  return formatPersonName(String(alphabetic));
}

/** Render a PN component group: family^given^middle^prefix^suffix. */
export function formatPersonName(raw: string): string {
  const [family = '', given = '', middle = '', prefix = '', suffix = ''] = raw.split('^');
  const rest = [prefix, given, middle].filter(Boolean).join(' ');
  const name = [family, rest].filter(Boolean).join(', ');
  return suffix ? `${name} ${suffix}` : name;
}

/** DA (YYYYMMDD) to ISO date for display; anything else is returned unchanged. */
export function formatDate(da: string): string {
  const m = /^(\d{4})(\d{2})(\d{2})$/.exec(da.trim());
  return m ? `${m[1]}-${m[2]}-${m[3]}` : da;
}

/** TM (HHMMSS.frac) to HH:MM for display. */
export function formatTime(tm: string): string {
  const m = /^(\d{2})(\d{2})?/.exec(tm.trim());
  return m ? `${m[1]}:${m[2] ?? '00'}` : tm;
}
