/** Addresses of the pages, built in one place. */

export function patientHref(patientId: string): string {
  return `/patient?id=${encodeURIComponent(patientId)}`;
}

export function studyHref(studyUid: string): string {
  return `/study?uid=${encodeURIComponent(studyUid)}`;
}

export function viewerHref(studyUid: string, seriesUid?: string): string {
  const series = seriesUid ? `&series=${encodeURIComponent(seriesUid)}` : '';
  return `/viewer?study=${encodeURIComponent(studyUid)}${series}`;
}

/** The page a share link opens (router.ts: /s/<token>), not the JSON behind it. */
export function shareHref(token: string): string {
  return `/s/${encodeURIComponent(token)}`;
}
